#include "core/cpu_features.h"

#include <cstdlib>
#include <string>

#include "core/errors.h"
#include "cpu/kernels.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

namespace fibril {

bool cpu_supports_avx2_fma() {
#if defined(__x86_64__) || defined(__i386__)
  unsigned eax, ebx, ecx, edx;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return false;
  const bool fma = ecx & (1u << 12), osxsave = ecx & (1u << 27), avx = ecx & (1u << 28);
  if (!(fma && osxsave && avx)) return false;
  unsigned xcr0_lo, xcr0_hi;
  __asm__("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
  if ((xcr0_lo & 0x6) != 0x6) return false;  // XMM and YMM state enabled by the OS
  if (__get_cpuid_max(0, nullptr) < 7) return false;
  __cpuid_count(7, 0, eax, ebx, ecx, edx);
  return ebx & (1u << 5);
#else
  return false;
#endif
}

namespace {

const cpu::KernelTable& choose_kernels() {
  const char* env = std::getenv("FIBRIL_CPU_ISA");
  std::string want = env && *env ? env : "";
  bool avx2_ok = false;
#ifdef FIBRIL_HAVE_ISA_AVX2
  avx2_ok = cpu_supports_avx2_fma();
#endif
  if (want == "generic") return cpu::generic::table();
  if (want == "avx2") {
    FIBRIL_CHECK(avx2_ok, Runtime, "FIBRIL_CPU_ISA=avx2, but this CPU or build lacks AVX2+FMA");
  } else {
    FIBRIL_CHECK(want.empty(), Runtime, "FIBRIL_CPU_ISA='", want, "' is not one of: generic, avx2");
  }
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
