// libFuzzer harnesses for the image entry points of native/src/image.cpp (stb_image + our completeness checks,
// PNG CRCs, EXIF orientation, the pixel limit). Built by build/fuzz.sh with clang -fsanitize=fuzzer,address,undefined;
// one binary per target, chosen by MLT_FUZZ_TARGET:
//   1 image_header: mlt_image_info, with and without the EXIF orientation and the pixel limit.
//   2 image_decode: mlt_image_info then mlt_image_decode (pixel limit 4 Mpx, every channel count, both orientation
//                   modes), checking that a successful decode agrees with the header and writes only its buffer.
// The committed corpora (test/fixtures/fuzz/<target>/) are replayed without the fuzzer by ImageFuzzCorpusTests
// through the normal Release library, and by `build/fuzz.sh --replay` through these sanitizer builds.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "mlnet_image.h"

namespace mlt {
// runtime.cpp (which needs libtorch) holds the real thread-local error slot; the harness only needs it to exist.
thread_local std::string g_fuzz_error;
void set_error(const std::string& message) { g_fuzz_error = message; }
}  // namespace mlt

namespace {

[[noreturn]] void invariant(const char* what, const uint8_t* data, size_t size) {
  std::fprintf(stderr, "image fuzz invariant broken: %s (input of %zu bytes; last error: %s)\n", what, size,
               mlt::g_fuzz_error.c_str());
  std::abort();
}

bool valid_codes(int rc) { return rc <= 0 && rc >= MLT_IMAGE_ERR_ARGUMENT; }

void check_info(const mlt_image_info_t& i, const uint8_t* d, size_t n) {
  if (i.width <= 0 || i.height <= 0) invariant("non-positive size from a successful header read", d, n);
  if (i.channels < 1 || i.channels > 4) invariant("channels outside 1..4", d, n);
  if (i.format < MLT_IMAGE_FORMAT_JPEG || i.format > MLT_IMAGE_FORMAT_PNM) invariant("format code outside 1..6", d, n);
  if (i.orientation < 1 || i.orientation > 8) invariant("orientation outside 1..8", d, n);
  if (i.bits != 8 && i.bits != 16) invariant("bits neither 8 nor 16", d, n);
}

int header_target(const uint8_t* d, size_t n) {
  const int64_t len = static_cast<int64_t>(n);
  for (int orient = 0; orient <= 1; orient++) {
    for (int64_t limit : {int64_t{0}, int64_t{178956970}, int64_t{1}}) {
      mlt_image_info_t info{};
      int rc = mlt_image_info(d, len, orient, limit, &info);
      if (!valid_codes(rc)) invariant("unknown return code", d, n);
      if (rc == MLT_IMAGE_OK) {
        check_info(info, d, n);
        if (limit > 0 && int64_t{info.width} * info.height > limit) invariant("pixel limit not enforced", d, n);
      }
      if (rc == MLT_IMAGE_ERR_ARGUMENT) invariant("argument error for valid arguments", d, n);
    }
  }
  return 0;
}

int decode_target(const uint8_t* d, size_t n) {
  const int64_t len = static_cast<int64_t>(n);
  const int64_t limit = int64_t{4} << 20;  // 4 Mpx keeps one execution fast; the guard itself is what is exercised
  // The mode comes from the input's length so that every input has one deterministic mode (replays agree).
  const int channels = 1 + static_cast<int>(n % 4);
  const int orient = static_cast<int>((n / 4) % 2);
  mlt_image_info_t info{};
  int rc = mlt_image_info(d, len, orient, limit, &info);
  if (!valid_codes(rc)) invariant("unknown return code", d, n);
  if (rc != MLT_IMAGE_OK) return 0;
  check_info(info, d, n);
  const size_t need = static_cast<size_t>(info.width) * info.height * channels;
  // Guard bytes on both sides catch a write outside the buffer even where ASan's redzones would not.
  const size_t guard = 64;
  std::vector<uint8_t> buf(need + 2 * guard, 0xA5);
  mlt_image_info_t out_info{};
  rc = mlt_image_decode(d, len, channels, orient, limit, buf.data() + guard, static_cast<int64_t>(need), &out_info);
  if (!valid_codes(rc)) invariant("unknown return code from decode", d, n);
  if (rc == MLT_IMAGE_ERR_ARGUMENT) invariant("decode refused the buffer sized from the header", d, n);
  for (size_t i = 0; i < guard; i++)
    if (buf[i] != 0xA5 || buf[guard + need + i] != 0xA5) invariant("decode wrote outside its buffer", d, n);
  if (rc == MLT_IMAGE_OK) {
    if (out_info.width != info.width || out_info.height != info.height || out_info.format != info.format)
      invariant("decode and header disagree on the size or format", d, n);
    // Touch every pixel so that uninitialised output shows under MSan-style checks and the work is not elided.
    unsigned sum = 0;
    for (size_t i = 0; i < need; i++) sum += buf[guard + i];
    if (sum == 0xFFFFFFFFu) std::fprintf(stderr, "%u\n", sum);
  }
  // A wrong buffer size must be refused, never written past.
  if (need > 1) {
    std::vector<uint8_t> small(need - 1);
    if (mlt_image_decode(d, len, channels, orient, limit, small.data(), static_cast<int64_t>(small.size()), nullptr) !=
        MLT_IMAGE_ERR_ARGUMENT)
      invariant("decode accepted a buffer one byte short", d, n);
  }
  return 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
#if MLT_FUZZ_TARGET == 1
  return header_target(data, size);
#elif MLT_FUZZ_TARGET == 2
  return decode_target(data, size);
#else
#error "define MLT_FUZZ_TARGET (1 image_header, 2 image_decode)"
#endif
}
