"""`make bench`: throughput and memory benchmarks of bucketscore (never part of `make test`)."""
