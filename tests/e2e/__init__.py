"""The detnas CLI in subprocesses through whole searches and benchmarks: resume after kill -9, Ray, the tables."""
