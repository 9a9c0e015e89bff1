#include "core/cpu_features.h"

#include <cstdlib>
#include <string>

#include "core/errors.h"
#include "cpu/kernels.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

namespace fibril {

namespace {

#if defined(__x86_64__) || defined(__i386__)
// XCR0: the register state the OS saves on a context switch.
unsigned os_saved_state() {
  unsigned lo, hi;
  __asm__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return lo;
}
#endif

}  // namespace

bool cpu_supports_avx2_fma() {
#if defined(__x86_64__) || defined(__i386__)
  unsigned eax, ebx, ecx, edx;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return false;
  const bool fma = ecx & (1u << 12), osxsave = ecx & (1u << 27), avx = ecx & (1u << 28);
  if (!(fma && osxsave && avx)) return false;
  if ((os_saved_state() & 0x6) != 0x6) return false;  // XMM and YMM state
  if (__get_cpuid_max(0, nullptr) < 7) return false;
  __cpuid_count(7, 0, eax, ebx, ecx, edx);
  return ebx & (1u << 5);
#else
  return false;
#endif
}

bool cpu_supports_avx512() {
#if defined(__x86_64__) || defined(__i386__)
  if (!cpu_supports_avx2_fma()) return false;
  if ((os_saved_state() & 0xE6) != 0xE6) return false;  // and opmask, ZMM0-15 upper, ZMM16-31
  unsigned eax, ebx, ecx, edx;
  __cpuid_count(7, 0, eax, ebx, ecx, edx);
  const unsigned f = 1u << 16, dq = 1u << 17, bw = 1u << 30, vl = 1u << 31;
  return (ebx & (f | dq | bw | vl)) == (f | dq | bw | vl);
#else
  return false;
#endif
}

namespace {

const cpu::KernelTable& choose_kernels() {
  const char* env = std::getenv("FIBRIL_CPU_ISA");
  std::string want = env && *env ? env : "";
  bool avx2_ok = false, avx512_ok = false;
#ifdef FIBRIL_HAVE_ISA_AVX2
  avx2_ok = cpu_supports_avx2_fma();
#endif
#ifdef FIBRIL_HAVE_ISA_AVX512
  avx512_ok = cpu_supports_avx512();
#endif
  if (want == "generic") return cpu::generic::table();
  if (want == "avx2") {
    FIBRIL_CHECK(avx2_ok, Runtime, "FIBRIL_CPU_ISA=avx2, but this CPU or build lacks AVX2+FMA");
    avx512_ok = false;
  } else if (want == "avx512") {
    FIBRIL_CHECK(avx512_ok, Runtime, "FIBRIL_CPU_ISA=avx512, but this CPU or build lacks AVX-512 F/VL/BW/DQ");
  } else {
    FIBRIL_CHECK(want.empty(), Runtime, "FIBRIL_CPU_ISA='", want, "' is not one of: generic, avx2, avx512");
  }
#ifdef FIBRIL_HAVE_ISA_AVX512
  if (avx512_ok) return cpu::avx512::table();
#endif
#ifdef FIBRIL_HAVE_ISA_AVX2
  if (avx2_ok) return cpu::avx2::table();
#endif
  return cpu::generic::table();
}

}  // namespace

namespace cpu {
const KernelTable& kernels() {
  static const KernelTable& chosen = choose_kernels();
  return chosen;
}
}  // namespace cpu

const char* cpu_isa() { return cpu::kernels().isa; }

}  // namespace fibril
