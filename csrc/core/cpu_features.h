// Which per-ISA build of the CPU kernels runs: the best one this CPU and OS support,
// unless FIBRIL_CPU_ISA=generic|avx2|avx512 asks for another (asking for an unsupported one is a
// RuntimeError at import, not a crash later).
#pragma once

namespace fibril {

bool cpu_supports_avx2_fma();  // CPUID AVX2 + FMA and the OS saves YMM state
bool cpu_supports_avx512();    // and AVX-512 F/VL/BW/DQ, the OS saving opmask and ZMM state
const char* cpu_isa();         // the chosen ISA's name

}  // namespace fibril
