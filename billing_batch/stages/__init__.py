"""The run's business stages that need more than one aggregate of the ledger and the office's settings:
they load from ledger/, decide with billing/, and save through ledger/."""
