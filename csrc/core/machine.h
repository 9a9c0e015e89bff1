// Machine peak, measured: the fp32 multiply-add throughput of all pool threads and the
// copy bandwidth (read + write bytes) of a 256 MiB memcpy split over them. Benchmarks
// report "% of peak" against these. Takes about a second.
#pragma once

namespace fibril {

struct MachinePeak {
  double fma_gflops;
  double copy_gbs;
  int threads;
};

MachinePeak measure_machine_peak();

}  // namespace fibril
