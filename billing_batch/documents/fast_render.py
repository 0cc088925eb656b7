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

Then a document is: render the compiled template; docxtpl's post-processing (listing characters,
`{_{` escapes); parse the body with lxml (strictly: docxtpl's `fix_tables` recovers, which on
well-formed XML builds the same tree) in place inside the document element — the tree docxtpl's
`map_tree` builds, without moving every node between two documents; renumber `wp:docPr` ids
(`fix_docpr_ids`); serialise as python-docx does; deflate that part (zlib level 1: the document's
parts decompress to the same bytes at any level); write the zip around the unchanged parts'
already-compressed bytes. A header or footer that renders as for an earlier document reuses that
document's finished part. When a
table would be changed by `fix_tables` (a `{%tc %}` column loop), or the XML needed recovering,
the document takes docxtpl's own steps instead (`_document_exact`). Headers and footers with tags
go through `XmlPart.load` and python-docx's serialiser as in `map_headers_footers_xml`.

Every part is therefore byte for byte what docxtpl writes (tests/test_fast_render.py compares
names, order and bytes of every part). Only zip metadata differs: entries carry the fixed
1980-01-01 timestamp where docxtpl stamps the time of saving, so the same context always gives the
same file, and re-rendering a document after a crash gives it again exactly.

Templates using what this path does not reproduce (footnotes, or Jinja in the core properties)
are rendered by docxtpl itself, document by document (`render_bytes` decides).

`iter_render_many`/`render_many` spread a batch over worker processes (forked, so they inherit the
prepared templates) while this process helps, and write each chunk's files with `write_durably`:
one fsync round for the chunk instead of one per file.
"""

from __future__ import annotations

import copy
import io
import multiprocessing
import os
import re
import signal
import struct
import sys
import tempfile
import threading
import time
import zipfile
import zlib
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from itertools import chain, islice
from pathlib import Path

import docx.oxml.ns
from docx.opc.oxml import serialize_part_xml
from docx.oxml.parser import parse_xml
from docxtpl import DocxTemplate
from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment
from lxml import etree

from billing_batch import faults
from billing_batch.files import cannot_write, file_mode, sync_folder, temp_prefix

FOOTNOTES_CT = "application/vnd.openxmlformats-officedocument.wordprocessingml.footnotes+xml"
# The core properties docxtpl renders through Jinja (DocxTemplate.render_properties).
CORE_PROPERTIES = ("author", "comments", "identifier", "language", "subject", "title")
JINJA_MARKS = ("{{", "{%", "{#")
LISTING_CHARS = ("\t", "\a", "\n", "\f")  # what DocxTemplate.resolve_listing rewrites inside <w:t>
DEFLATE_LEVEL = 6  # zlib's default, as zipfile (hence python-docx) uses: the parts compressed once
# The parts compressed for every document (the body, headers with tags): zlib's fastest level. Any
# deflate level decompresses to the same bytes and Word/LibreOffice read them all; the body is
# ~25 KB, so the file grows by a few hundred bytes while deflating costs a third of the time.
DOCUMENT_DEFLATE_LEVEL = 1
HEADER_CACHE = 64  # rendered headers/footers kept per part (most render the same for every document)
ZIP_DOS_DATE = (0 << 9) | (1 << 5) | 1  # 1980-01-01: reproducible output
ZIP_DOS_TIME = 0
PARALLEL_MIN_JOBS = 128  # below this (~0.3 s of work), starting worker processes costs more than it saves

_P_OPEN = re.compile(r"<w:p([ >])")


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


def _deflate(name: str, payload: bytes, level: int = DEFLATE_LEVEL) -> _Stored:
    c = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS)
    return _Stored(name.encode("utf-8"), c.compress(payload) + c.flush(), zlib.crc32(payload), len(payload))


def _zip(entries: list[_Stored]) -> bytes:
    """A plain zip (no zip64: parts and documents are far below 4 GB) of deflated entries."""
    out, central, offset = [], [], 0
    for e in entries:
        flags = 0 if e.name.isascii() else 0x800  # UTF-8 names, as zipfile marks them
        local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, flags, zipfile.ZIP_DEFLATED, ZIP_DOS_TIME,
                            ZIP_DOS_DATE, e.crc, len(e.data), e.size, len(e.name), 0) + e.name
        central.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, (3 << 8) | 20, 20, flags,
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
        body_source = tpl.patch_xml(tpl.get_xml())
        self._document_name = tpl.docx.part.partname.membername
        self._root = tpl.docx.element  # the document element, for the exact path (map_tree)
        self._current_body = self._root.body
        self._lock = threading.Lock()
        self._head, self._tail, self._body_tag, self._bare_body_tag = _document_frame(self._root, body_source)
        if self._bare_body_tag is not None:
            body_source = self._bare_body_tag + body_source[len(self._body_tag):]
        self._body = env.from_string(_P_OPEN.sub(r"\n<w:p\1", body_source))

        # Headers and footers: compiled when they hold tags, rendered once when they do not.
        self._dynamic: dict[str, object] = {}  # member name -> compiled template
        # member name -> {rendered source: finished, compressed part}: a header that renders as it did
        # for an earlier document (the office's name, say) is not parsed, serialised and deflated again.
        self._rendered: dict[str, dict[str, _Stored]] = {}
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
        parts = {self._document_name: _deflate(self._document_name, self._document_xml(context),
                                               DOCUMENT_DEFLATE_LEVEL)}
        for name, template in self._dynamic.items():
            parts[name] = self._header(name, template.render(context))
        return _zip([e if isinstance(e, _Stored) else parts[e] for e in self._entries])

    def _header(self, name: str, source: str) -> _Stored:
        """A header or footer part from its rendered source: the same source always gives the same
        bytes (a pure function of it), so they are kept for the next document."""
        seen = self._rendered.setdefault(name, {})
        part = seen.get(source)
        if part is None:
            part = _deflate(name, _header_bytes(_finish(source)), DOCUMENT_DEFLATE_LEVEL)
            if len(seen) >= HEADER_CACHE:
                seen.clear()  # a header unique per document (the invoice number): nothing worth keeping
            seen[source] = part
        return part

    def _document_xml(self, context: dict) -> bytes:
        xml = _finish(self._body.render(context))
        if self._bare_body_tag is not None:
            data = self._document_in_frame(xml)
            if data is not None:
                return data
            xml = self._body_tag + xml[len(self._bare_body_tag):]
        return self._document_exact(xml)

    def _document_in_frame(self, xml: str) -> bytes | None:
        """The body parsed in place inside the document element: the same tree DocxTemplate.map_tree
        builds (the body's namespace declarations, all redundant with the document element's, are
        the ones lxml strips when the re-parsed body is moved in), without moving thousands of
        nodes between documents. None when fix_tables would change a table, or the XML needed
        recovering: then the exact path does what docxtpl does."""
        # A strict parser: on well-formed XML it builds the tree the recovering one would, and a
        # quarter faster; anything it rejects or warns about takes the exact path.
        parser = etree.XMLParser()  # docxtpl's options but recover
        data = self._head + xml.encode("utf-8") + self._tail
        try:
            root = etree.fromstring(data, parser)
        except etree.XMLSyntaxError:
            return None
        if parser.error_log or len(root) != len(self._root):
            return None
        body = root.find(_W_BODY)
        if body is None or _tables_need_fixing(body):
            return None
        if b"docPr" in data:
            for n, elt in enumerate(body.iter(_WP_DOCPR), start=1001):
                elt.attrib["id"] = str(n)  # DocxTemplate.fix_docpr_ids: renumbered from 1000 per render
        return serialize_part_xml(root)

    def _document_exact(self, xml: str) -> bytes:
        """DocxTemplate.render's own steps: fix_tables (lxml re-parse), fix_docpr_ids, map_tree."""
        tree = DocxTemplate.fix_tables(None, xml)
        for n, elt in enumerate(tree.xpath("//wp:docPr", namespaces=docx.oxml.ns.nsmap), start=1001):
            elt.attrib["id"] = str(n)
        with self._lock:
            self._root.replace(self._current_body, tree)
            self._current_body = tree
            return serialize_part_xml(self._root)


_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_W_BODY = _W + "body"
_WP_DOCPR = "{%s}docPr" % docx.oxml.ns.nsmap["wp"]
_XMLNS = re.compile(r'\sxmlns(?::([\w.-]+))?="([^"]*)"')


def _document_frame(root, body_source: str) -> tuple[bytes, bytes, str, str | None]:
    """The serialised document element around its body (head, tail), the body's start tag as
    docxtpl's source has it, and that tag without the namespace declarations lxml would strip
    when the body is moved into the document (None: the in-place path does not apply, e.g. a
    namespace declared again inside the body, whose stripping it would not reproduce)."""
    tag = re.match(r"<w:body\b[^>]*>", body_source)
    frame = copy.deepcopy(root)
    old = frame.find(_W_BODY)
    frame.replace(old, etree.Element(_W_BODY))
    head, sep, tail = serialize_part_xml(frame).partition(b"<w:body/>")
    if tag is None or not sep or b"<w:body" in tail or "xmlns" in body_source[tag.end():]:
        return head, tail, "", None
    in_scope = {href: prefix for prefix, href in root.nsmap.items()}
    if len(in_scope) != len(root.nsmap):
        return head, tail, tag.group(0), None  # one href under two prefixes: lxml's choice, not ours
    bare = tag.group(0)
    for m in _XMLNS.finditer(tag.group(0)):
        prefix, href = m.group(1), m.group(2)
        if href in in_scope:
            if in_scope[href] != prefix:
                return head, tail, tag.group(0), None  # lxml would re-prefix the body's elements
            bare = bare.replace(m.group(0), "", 1)
    return head, tail, tag.group(0), bare


_NS = {"w": _W[1:-1]}
_SPANS = etree.XPath(".//w:tc/w:tcPr[1]/w:gridSpan[1]", namespaces=_NS)
_TABLES = etree.XPath(".//w:tbl", namespaces=_NS)
_GRID_COLS = etree.XPath("count(w:tblGrid[1]/w:gridCol)", namespaces=_NS)
# Rows (nested tables' included, as fix_tables' `t.iter("tr")` sees them) with more cells than the
# grid has columns; rows whose cells, summed as get_cell_len sums them, span the grid.
_ROW_TOO_WIDE = etree.XPath("boolean(.//w:tr[count(w:tc) > $n])", namespaces=_NS)
_ROW_SPANS_GRID = etree.XPath("boolean(.//w:tr[count(w:tc[not(w:tcPr[1]/w:gridSpan[1])])"
                              " + sum(w:tc/w:tcPr[1]/w:gridSpan[1]/@w:val) >= $n])", namespaces=_NS)


def _tables_need_fixing(body) -> bool:
    """Whether DocxTemplate.fix_tables would change a table: when a row (nested tables' rows
    included, as its `iter` sees them) has more cells than the grid has columns, or when no row
    spans the whole grid (it then drops columns). Unusual gridSpan values take the exact path.
    (XPath, so a long invoice's rows are counted in C, not one by one in Python.)"""
    if any(not (s.get(_W + "val") or "").isascii() or not (s.get(_W + "val") or "").isdigit()
           for s in _SPANS(body)):
        return True
    for t in _TABLES(body):
        if t.find(_W + "tblGrid") is None:
            return True
        n = int(_GRID_COLS(t))
        if _ROW_TOO_WIDE(t, n=n) or not _ROW_SPANS_GRID(t, n=n):
            return True
    return False


def _finish(rendered: str) -> str:
    """What DocxTemplate.render_xml_part does after Jinja."""
    xml = rendered.replace("\n<w:p ", "<w:p ").replace("\n<w:p>", "<w:p>")  # = re.sub(r"\n<w:p([ >])", ...)
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
    path = Path(template)
    if not path.is_absolute():
        path = path.resolve()
    st = path.stat()  # one system call per document: an edited template is prepared again
    key = (str(path), st.st_mtime_ns, st.st_size, st.st_ino)
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
CHUNK = 32  # documents per task sent to a worker: enough to amortise the hand-over and the fsyncs
FSYNC_THREADS = 8


def write_durably(files: list[tuple[Path, bytes]]) -> list[str | None]:
    """`render.write_atomic` for many files at once, with the same guarantee: a file appears under
    its final name only complete and on disk. Each is written under a temporary name in its folder;
    all are fsynced together, from a few threads, so the file system commits them in a handful of
    journal transactions rather than one each (measured here: 0.8 ms a file instead of 2.4-3.3);
    then each is renamed, and each folder fsynced so the renames are durable before the caller
    records the documents as written. Returns, per file, None or the error."""
    errors: list[str | None] = [None] * len(files)
    temps: dict[int, tuple[int, str]] = {}
    for i, (path, data) in enumerate(files):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temp_prefix(), suffix=path.suffix)
            temps[i] = (fd, tmp)
            os.fchmod(fd, file_mode())  # mkstemp makes it private; the office must read it
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        except OSError as exc:
            errors[i] = cannot_write(exc, files[i][0])

    faults.reach("temp")  # a crash here leaves the chunk's temporary files for the next run to remove

    def sync(i: int) -> None:
        try:
            os.fsync(temps[i][0])
        except OSError as exc:
            errors[i] = cannot_write(exc, files[i][0])

    if len(temps) > 1:
        list(_fsync_pool().map(sync, list(temps)))
    else:
        for i in temps:
            sync(i)
    folders = set()
    for i, (fd, tmp) in temps.items():
        os.close(fd)
        try:
            if errors[i] is None:
                os.replace(tmp, files[i][0])
                folders.add(files[i][0].parent)
        except OSError as exc:
            errors[i] = cannot_write(exc, files[i][0])
        if errors[i] is not None:
            Path(tmp).unlink(missing_ok=True)
    for folder in folders:
        sync_folder(folder)  # not every platform opens folders; the files themselves are synced
    return errors


_fsync_pools: dict[int, ThreadPoolExecutor] = {}


def _fsync_pool() -> ThreadPoolExecutor:
    """This process's fsync threads, started on its first chunk and kept (a pool per chunk started
    8 threads a chunk). Keyed by process: a forked worker cannot use its parent's threads."""
    pid = os.getpid()
    pool = _fsync_pools.get(pid)
    if pool is None:
        _fsync_pools.clear()
        pool = _fsync_pools[pid] = ThreadPoolExecutor(FSYNC_THREADS, thread_name_prefix="fsync")
    return pool


def _stop_fsync_pool() -> None:
    """Before forking workers: the run forks with no thread of its own alive (see _pool_context)."""
    pool = _fsync_pools.pop(os.getpid(), None)
    if pool is not None:
        pool.shutdown(wait=True)


def _render_chunk(jobs: list[Job]) -> list[Rendered]:
    """Render a chunk of jobs, then write the good ones together (write_durably)."""
    outcomes: list[Rendered | None] = []
    files: list[tuple[Path, bytes]] = []
    for template, context, out in jobs:
        try:
            files.append((Path(out), render_bytes(Path(template), context)))
            outcomes.append(None)
        except Exception as exc:  # one broken document must not stop the others
            outcomes.append(Rendered(Path(out), f"{type(exc).__name__}: {exc}"))
    errors = iter(write_durably(files))
    written = iter(files)
    return [o if o is not None else Rendered(next(written)[0], next(errors)) for o in outcomes]


def _chunks(jobs: Iterable[Job], size: int) -> Iterator[list[Job]]:
    it = iter(jobs)
    while chunk := list(islice(it, size)):
        yield chunk


def _pool_context():
    """Fork where it is safe and cheap (Linux and other POSIX systems but macOS), else spawn.

    A spawned worker re-imports the caller's main module (the CLI imports the whole application:
    1.4 s here, 2.5 s for the benchmark) before rendering anything; a forked one starts in
    milliseconds with the templates already prepared. Forking is safe for this use: the run is
    single-threaded when it renders (no other thread can hold a lock the child would need), and
    a worker only renders and writes files: it never touches the database connections it
    inherits, and leaves through os._exit, so it closes nothing of the parent's."""
    if "fork" in multiprocessing.get_all_start_methods() and sys.platform != "darwin":
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> None:
    """Worker initializer: a worker never outlives its run. Killed with -9, a run used to leave its
    workers blocked forever on their task queue, holding the run's lock file, the ledger and the
    console open. On Linux the kernel kills the worker when the run dies (PR_SET_PDEATHSIG);
    elsewhere a thread watches for the parent to go."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    else:
        def watch() -> None:
            while os.getppid() == parent:
                time.sleep(1)
            os._exit(1)

        threading.Thread(target=watch, daemon=True).start()
    if os.getppid() != parent:  # the run died before the line above took effect
        os._exit(1)


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def iter_render_many(jobs: Iterable[Job], workers: int | None = None) -> Iterator[Rendered]:
    """Render and write each (template, context, output path) job; yields one `Rendered` per job,
    in job order, as soon as its chunk is on disk, so the caller can record documents as written
    while later ones render. `jobs` may be a generator building contexts lazily: it is consumed a
    few chunks ahead of the workers.

    `workers` defaults to the usable cores; a batch under PARALLEL_MIN_JOBS, or workers=1, runs in
    this process. This process renders chunks too whenever every worker is busy, so a batch never
    waits on the pool's start-up. See `_pool_context` for how workers start."""
    workers = max(1, workers or usable_cpus())
    it = iter(jobs)
    head = list(islice(it, PARALLEL_MIN_JOBS))
    chunks = _chunks(chain(head, it), CHUNK)
    if workers == 1 or len(head) < PARALLEL_MIN_JOBS:
        for chunk in chunks:
            yield from _render_chunk(chunk)
        return
    for template in {Path(job[0]) for job in head}:
        try:
            prepared(template)  # forked workers inherit the preparation
        except Exception:  # noqa: BLE001 - a template that cannot be read fails its own jobs, below
            pass
    _stop_fsync_pool()
    with ProcessPoolExecutor(max_workers=workers, mp_context=_pool_context(), initializer=_die_with_parent,
                             initargs=(os.getpid(),)) as pool:
        # Chunk outcomes in job order: rendered here (a list) or (future, chunk) sent to a worker.
        pending: deque[list[Rendered] | tuple[Future, list[Job]]] = deque()
        exhausted = broken = False

        def outcomes(entry) -> list[Rendered]:
            nonlocal broken
            if isinstance(entry, list):
                return entry
            future, chunk = entry
            try:
                return future.result()
            except BrokenProcessPool:  # a worker died (killed, out of memory): finish here
                broken = True
                return _render_chunk(chunk)  # rewriting a file it wrote gives the same bytes

        while True:
            busy = sum(1 for e in pending if isinstance(e, tuple) and not e[0].done())
            while not exhausted and not broken and busy < 2 * workers:  # a chunk waiting for each worker
                chunk = next(chunks, None)
                if chunk is None:
                    exhausted = True
                    break
                try:
                    pending.append((pool.submit(_render_chunk, chunk), chunk))
                except BrokenProcessPool:
                    broken = True
                    pending.append(_render_chunk(chunk))
                busy += 1
            while pending and (isinstance(pending[0], list) or pending[0][0].done()):
                yield from outcomes(pending.popleft())
            if not pending:
                return
            chunk = None if exhausted else next(chunks, None)
            if chunk is None:
                exhausted = True
                wait([pending[0][0]], return_when=FIRST_COMPLETED)
            else:
                pending.append(_render_chunk(chunk))  # every worker is busy: this process helps


def render_many(jobs: Iterable[Job], workers: int | None = None) -> list[Rendered]:
    """`iter_render_many` collected: one `Rendered` per job, in job order."""
    return list(iter_render_many(jobs, workers))
