"""The local platform's storage: the SQLite job store, entity records, dataset files, staging."""
