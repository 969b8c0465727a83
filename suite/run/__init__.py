"""Run layer: suite files, planning the matrix, the content-hash cache, executors, the worker, resume."""
