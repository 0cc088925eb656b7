"""docxtpl's rendering, with the work that does not depend on the document done once per template.

`DocxTemplate(path).render(ctx); save()` costs ~40 ms a document, nearly all of it spent on things
that are the same for every document made from a template: loading the package with python-docx,
docxtpl's regex preprocessing of the XML, compiling it into a Jinja template, and re-serialising and
re-compressing the parts that rendering never touches (styles.xml alone is 350 KB). Here a template
is *prepared* once per process:

- the body (`word/document.xml`) and every header and footer go through docxtpl's own
  `patch_xml`, and the result is compiled once in the sandboxed, autoescaping, StrictUndefined
  environment (the same template docxtpl would compile for every document);
- every other part is taken from one python-docx save of the loaded template (with the core
  properties rendered the way docxtpl renders them) and compressed once; a header or footer with no
  tags is rendered once.

Then a document is: render the compiled template, docxtpl's post-processing (listing characters,
`{_{` escapes), the same lxml re-parse docxtpl does (`fix_tables`, `fix_docpr_ids`), the body put
back into the document element and serialised as python-docx serialises it, deflate that part, and
write the zip with the unchanged parts' already-compressed bytes. Every step that shapes a part's
bytes calls the same docxtpl/python-docx/lxml function docxtpl calls, so every part is byte for byte
what docxtpl writes (tests/test_fast_render.py compares them); what differs is zip metadata: entries
carry the fixed 1980-01-01 timestamp (docxtpl stamps the time of saving), so the same context
always gives the same file.

Templates using what this path does not reproduce (footnotes, or Jinja in the core properties)
are rendered by docxtpl itself, document by document.

`render_many` spreads a batch over processes; each worker prepares each template once.
"""

from __future__ import annotations

import copy
import io
import os
import re
import struct
import threading
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import docx.oxml.ns
from docx.opc.oxml import serialize_part_xml
from docx.oxml.parser import parse_xml
from docxtpl import DocxTemplate
from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment
from lxml import etree

FOOTNOTES_CT = "application/vnd.openxmlformats-officedocument.wordprocessingml.footnotes+xml"
# The core properties docxtpl renders through Jinja (DocxTemplate.render_properties).
CORE_PROPERTIES = ("author", "comments", "identifier", "language", "subject", "title")
JINJA_MARKS = ("{{", "{%", "{#")
LISTING_CHARS = ("\t", "\a", "\n", "\f")  # what DocxTemplate.resolve_listing rewrites inside <w:t>
DEFLATE_LEVEL = 6  # zlib's default, as zipfile (hence python-docx) uses
ZIP_DOS_DATE = (0 << 9) | (1 << 5) | 1  # 1980-01-01: reproducible output
ZIP_DOS_TIME = 0
PARALLEL_MIN_JOBS = 48  # below this, starting worker processes costs more than it saves

_P_OPEN = re.compile(r"<w:p([ >])")
_NL_P_OPEN = re.compile(r"\n<w:p([ >])")


def strict_env() -> SandboxedEnvironment:
    """Values escaped, a missing key an error, no template code reaching Python objects."""
    return SandboxedEnvironment(autoescape=True, undefined=StrictUndefined)


class UnsupportedTemplate(Exception):
    """The template uses something the prepared path does not reproduce: render it with docxtpl."""


# --------------------------------------------------------------------------------------- zip parts

@dataclass(frozen=True)
class _Stored:
    """A zip entry whose bytes are already deflated."""

    name: bytes
    data: bytes  # raw deflate stream
    crc: int
    size: int


def _deflate(name: str, payload: bytes) -> _Stored:
    c = zlib.compressobj(DEFLATE_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)
    return _Stored(name.encode("ascii"), c.compress(payload) + c.flush(), zlib.crc32(payload), len(payload))


def _zip(entries: list[_Stored]) -> bytes:
    """A plain zip (no zip64: parts and documents are far below 4 GB) of deflated entries."""
    out, central, offset = [], [], 0
    for e in entries:
        local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, zipfile.ZIP_DEFLATED, ZIP_DOS_TIME,
                            ZIP_DOS_DATE, e.crc, len(e.data), e.size, len(e.name), 0) + e.name
        central.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, (3 << 8) | 20, 20, 0,
                                   zipfile.ZIP_DEFLATED, ZIP_DOS_TIME, ZIP_DOS_DATE, e.crc, len(e.data),
                                   e.size, len(e.name), 0, 0, 0, 0, 0o100644 << 16, offset) + e.name)
        out += (local, e.data)
        offset += len(local) + len(e.data)
    directory = b"".join(central)
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries), len(directory), offset, 0)
    return b"".join(out) + directory + end


# --------------------------------------------------------------------------------------- templates

class PreparedTemplate:
    """One Word template, prepared once; `render(context)` gives the .docx bytes docxtpl would."""

    def __init__(self, path: Path, env: SandboxedEnvironment | None = None):
        self.path = Path(path)
        env = env or strict_env()
        tpl = DocxTemplate(str(self.path))
        tpl.render_init()  # loads the package with python-docx, exactly as render() does
        package = tpl.docx.part.package
        if any(p.content_type == FOOTNOTES_CT for p in package.iter_parts()):
            raise UnsupportedTemplate("footnotes")
        core = tpl.docx.core_properties
        if any(m in (getattr(core, prop) or "") for prop in CORE_PROPERTIES for m in JINJA_MARKS):
            raise UnsupportedTemplate("Jinja tags in the document properties")

        # docxtpl's body source, with the "\n<w:p" markers render_xml_part adds before compiling.
        self._body = env.from_string(_P_OPEN.sub(r"\n<w:p\1", tpl.patch_xml(tpl.get_xml())))
        self._document_name = tpl.docx.part.partname.membername
        self._root = tpl.docx.element  # the document element; its body is replaced per render
        self._current_body = self._root.body
        self._lock = threading.Lock()

        # Headers and footers: compiled when they hold tags, rendered once when they do not.
        self._dynamic: dict[str, object] = {}  # member name -> compiled template
        fixed: dict[str, bytes] = {}
        for uri in (DocxTemplate.HEADER_URI, DocxTemplate.FOOTER_URI):
            for _, part in tpl.get_headers_footers(uri):
                xml = tpl.get_part_xml(part)
                if tpl.get_headers_footers_encoding(xml).lower().replace("-", "") != "utf8":
                    raise UnsupportedTemplate(f"{part.partname} is not UTF-8")
                patched = tpl.patch_xml(xml)
                source = _P_OPEN.sub(r"\n<w:p\1", patched)
                if any(m in patched for m in JINJA_MARKS):
                    self._dynamic[part.partname.membername] = env.from_string(source)
                else:
                    fixed[part.partname.membername] = _header_bytes(_finish(env.from_string(source).render({})))

        # Everything else: one python-docx save with the core properties set as docxtpl sets them.
        tpl.render_properties({}, env)
        skeleton = io.BytesIO()
        tpl.docx.save(skeleton)
        self._entries: list[_Stored | str] = []
        with zipfile.ZipFile(skeleton) as zf:
            for name in zf.namelist():
                if name == self._document_name or name in self._dynamic:
                    self._entries.append(name)
                else:
                    self._entries.append(_deflate(name, fixed.get(name, zf.read(name))))

    def render(self, context: dict) -> bytes:
        parts = {self._document_name: self._document_xml(context)}
        for name, template in self._dynamic.items():
            parts[name] = _header_bytes(_finish(template.render(context)))
        return _zip([e if isinstance(e, _Stored) else _deflate(e, parts[e]) for e in self._entries])

    def _document_xml(self, context: dict) -> bytes:
        xml = _finish(self._body.render(context))
        tree = DocxTemplate.fix_tables(None, xml)  # docxtpl's own lxml re-parse (recover=True)
        for n, elt in enumerate(tree.xpath("//wp:docPr", namespaces=docx.oxml.ns.nsmap), start=1001):
            elt.attrib["id"] = str(n)  # DocxTemplate.fix_docpr_ids, numbering from 1000 per render
        with self._lock:
            self._root.replace(self._current_body, tree)  # DocxTemplate.map_tree
            self._current_body = tree
            return serialize_part_xml(self._root)


def _finish(rendered: str) -> str:
    """What DocxTemplate.render_xml_part does after Jinja."""
    xml = _NL_P_OPEN.sub(r"<w:p\1", rendered)
    xml = xml.replace("{_{", "{{").replace("}_}", "}}").replace("{_%", "{%").replace("%_}", "%}")
    if any(ch in xml for ch in LISTING_CHARS):  # otherwise resolve_listing returns its input unchanged
        xml = DocxTemplate.resolve_listing(None, xml)
    return xml


def _header_bytes(xml: str) -> bytes:
    """DocxTemplate.map_headers_footers_xml: XmlPart.load (python-docx's parser) then its serialiser."""
    return serialize_part_xml(parse_xml(xml.encode("utf-8")))


def render_with_docxtpl(template: Path, context: dict) -> bytes:
    """The reference: one DocxTemplate per document (used for templates the fast path declines)."""
    doc = DocxTemplate(str(template))
    doc.render(context, jinja_env=strict_env())
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


_cache: dict[tuple[str, int, int], PreparedTemplate | None] = {}
_cache_lock = threading.Lock()


def prepared(template: Path) -> PreparedTemplate | None:
    """The prepared template for `template` as it is on disk now (None: docxtpl renders it)."""
    path = Path(template).resolve()
    st = path.stat()
    key = (str(path), st.st_mtime_ns, st.st_size)
    with _cache_lock:
        if key in _cache:
            return _cache[key]
    try:
        prep = PreparedTemplate(path)
    except UnsupportedTemplate:
        prep = None
    with _cache_lock:
        for old in [k for k in _cache if k[0] == key[0]]:
            del _cache[old]  # an edited template replaces its older preparation
        _cache[key] = prep
    return prep


def render_bytes(template: Path, context: dict) -> bytes:
    prep = prepared(template)
    return prep.render(context) if prep else render_with_docxtpl(template, context)


# --------------------------------------------------------------------------------------- batches

@dataclass(frozen=True)
class Rendered:
    """One job's outcome: the file written, or why not (`error` "ExceptionType: message")."""

    path: Path
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


Job = tuple[Path, dict, Path]  # (template, context, output path)


def _render_job(job: Job) -> Rendered:
    from billing_batch.documents.render import write_atomic  # render.py imports this module

    template, context, out = job
    try:
        write_atomic(Path(out), render_bytes(Path(template), context))
        return Rendered(Path(out))
    except Exception as exc:  # one broken document must not stop the others
        return Rendered(Path(out), f"{type(exc).__name__}: {exc}")


def _render_chunk(jobs: list[Job]) -> list[Rendered]:
    return [_render_job(j) for j in jobs]


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def iter_render_many(jobs: Iterable[Job], workers: int | None = None, chunk: int | None = None) -> Iterator[Rendered]:
    """Render and atomically write each job's document, yielding outcomes in job order as they
    finish (so a caller can mark each one done). `workers` defaults to the usable cores; small
    batches, or workers=1, run in this process. Worker processes are spawned (never forked from a
    process that may hold database connections or threads) and prepare each template once."""
    jobs = list(jobs)
    workers = max(1, min(workers or usable_cpus(), len(jobs) or 1))
    if workers == 1 or len(jobs) < PARALLEL_MIN_JOBS:
        for job in jobs:
            yield _render_job(job)
        return
    size = chunk or max(4, min(64, len(jobs) // (workers * 8)))
    chunks = [jobs[i:i + size] for i in range(0, len(jobs), size)]
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        for outcomes in pool.map(_render_chunk, chunks):
            yield from outcomes


def render_many(jobs: Iterable[Job], workers: int | None = None) -> list[Rendered]:
    """`iter_render_many` collected: one `Rendered` per job, in job order."""
    return list(iter_render_many(jobs, workers))
