// libtorch state (seed, thread count) is process-wide: tests run one at a time.
[assembly: DoNotParallelize]
