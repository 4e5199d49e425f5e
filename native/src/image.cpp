// Image decoding: stb_image (Debian libstb-dev) compiled into this library, plus what stb leaves out:
// completeness checks (stb pads a truncated file with zeros and reports success), PNG CRCs, the JPEG EXIF
// orientation, the pixel limit taken from the header, and clear errors for non-images and foreign formats.
#include <sys/stat.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <utility>

#include "mlnet_image.h"

#define STB_IMAGE_IMPLEMENTATION
#define STBI_NO_STDIO
#define STBI_ONLY_JPEG
#define STBI_ONLY_PNG
#define STBI_ONLY_BMP
#define STBI_ONLY_GIF
#define STBI_ONLY_TGA
#define STBI_ONLY_PNM
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wmisleading-indentation"
#endif
#include <stb/stb_image.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

namespace mlt {
void set_error(const std::string& message);  // runtime.cpp: the thread-local slot behind mlt_last_error()
}

namespace {

struct ImageError {
  int code;
  std::string message;
};

[[noreturn]] void fail(int code, std::string message) { throw ImageError{code, std::move(message)}; }

const char* format_name(int f) {
  switch (f) {
    case MLT_IMAGE_FORMAT_JPEG: return "JPEG";
    case MLT_IMAGE_FORMAT_PNG: return "PNG";
    case MLT_IMAGE_FORMAT_BMP: return "BMP";
    case MLT_IMAGE_FORMAT_GIF: return "GIF";
    case MLT_IMAGE_FORMAT_TGA: return "TGA";
    case MLT_IMAGE_FORMAT_PNM: return "PNM";
    default: return "unknown";
  }
}

// sig is a string literal; its length comes from the array type, so embedded NULs count.
template <size_t N>
bool starts(const uint8_t* d, int64_t n, const char (&sig)[N], int64_t off = 0) {
  constexpr int64_t k = static_cast<int64_t>(N) - 1;
  return n >= off + k && std::memcmp(d + off, sig, static_cast<size_t>(k)) == 0;
}

// Formats recognised by their signature; TGA has none and is left to stb's heuristic test.
int sniff(const uint8_t* d, int64_t n) {
  if (n >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF) return MLT_IMAGE_FORMAT_JPEG;
  if (starts(d, n, "\x89PNG\r\n\x1a\n")) return MLT_IMAGE_FORMAT_PNG;
  if (starts(d, n, "BM")) return MLT_IMAGE_FORMAT_BMP;
  if (starts(d, n, "GIF87a") || starts(d, n, "GIF89a")) return MLT_IMAGE_FORMAT_GIF;
  if (n >= 2 && d[0] == 'P' && d[1] >= '1' && d[1] <= '7') return MLT_IMAGE_FORMAT_PNM;
  return MLT_IMAGE_FORMAT_UNKNOWN;
}

// Image formats we recognise but do not decode: named in the error instead of "not an image".
const char* foreign_format(const uint8_t* d, int64_t n) {
  if (starts(d, n, "II*\0") || starts(d, n, "MM\0*")) return "TIFF";
  if (starts(d, n, "RIFF") && starts(d, n, "WEBP", 8)) return "WebP";
  if (starts(d, n, "ftypheic", 4) || starts(d, n, "ftypheix", 4) || starts(d, n, "ftypmif1", 4) ||
      starts(d, n, "ftyphevc", 4))
    return "HEIF/HEIC";
  if (starts(d, n, "ftypavif", 4)) return "AVIF";
  if (starts(d, n, "\0\0\0\x0cjP  ")) return "JPEG 2000";
  if (starts(d, n, "\xff\x4f\xff\x51")) return "JPEG 2000 codestream";
  if (starts(d, n, "\xff\x0a") || starts(d, n, "\0\0\0\x0cJXL ")) return "JPEG XL";
  if (starts(d, n, "\0\0\1\0") && n >= 6 && d[4] != 0) return "ICO";
  if (starts(d, n, "8BPS")) return "Photoshop (PSD)";
  if (starts(d, n, "#?RADIANCE") || starts(d, n, "#?RGBE")) return "Radiance HDR";
  if (starts(d, n, "qoif")) return "QOI";
  if (starts(d, n, "DDS ")) return "DDS";
  if (starts(d, n, "\x76\x2f\x31\x01")) return "OpenEXR";
  return nullptr;
}

inline uint32_t be32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}
inline uint32_t be16(const uint8_t* p) { return (uint32_t(p[0]) << 8) | uint32_t(p[1]); }
inline uint32_t le16(const uint8_t* p) { return uint32_t(p[0]) | (uint32_t(p[1]) << 8); }
inline uint32_t le32(const uint8_t* p) {
  return uint32_t(p[0]) | (uint32_t(p[1]) << 8) | (uint32_t(p[2]) << 16) | (uint32_t(p[3]) << 24);
}

// a * b for sizes read from headers (non-negative, up to 2^40 for PNM), saturated instead of overflowing: a
// PNG header alone can declare 2^32 x 2^32 pixels (found by build/fuzz.sh as signed overflow in the size message).
inline int64_t mul_sat(int64_t a, int64_t b) {
  if (a <= 0 || b <= 0) return a < 0 || b < 0 ? -1 : 0;
  return a > INT64_MAX / b ? INT64_MAX : a * b;
}

// ---- CRC-32 (PNG chunks) ----
struct Crc32 {
  uint32_t table[8][256];
  Crc32() {
    for (uint32_t i = 0; i < 256; i++) {
      uint32_t c = i;
      for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
      for (int t = 1; t < 8; t++) table[t][i] = (table[t - 1][i] >> 8) ^ table[0][table[t - 1][i] & 0xFF];
  }
  uint32_t operator()(const uint8_t* p, size_t n) const {
    uint32_t c = 0xFFFFFFFFu;
    while (n >= 8) {  // slicing-by-8
      uint32_t a = c ^ le32(p), b = le32(p + 4);
      c = table[7][a & 0xFF] ^ table[6][(a >> 8) & 0xFF] ^ table[5][(a >> 16) & 0xFF] ^ table[4][a >> 24] ^
          table[3][b & 0xFF] ^ table[2][(b >> 8) & 0xFF] ^ table[1][(b >> 16) & 0xFF] ^ table[0][b >> 24];
      p += 8;
      n -= 8;
    }
    while (n--) c = table[0][(c ^ *p++) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
  }
};
const Crc32& crc32() {
  static const Crc32 c;
  return c;
}

// ---- completeness checks ----
// A DHT segment's tables, read as stb_image reads them (from the stream, L = the segment length - 2, bytes past the
// end reading as 0). stb_image 2.27 (Debian's) sums a table's 16 code counts without a bound and then writes that
// many code sizes into a 257-entry array and that many values into a 256-entry one: a memory overwrite found by
// build/fuzz.sh (upstream 2.28 refuses more than 256). So every table is checked here before stb sees the file; other
// malformed tables are left to stb's own errors.
void check_jpeg_dht(const uint8_t* d, int64_t n, int64_t p, int64_t L, bool (*defined)[4] = nullptr) {
  auto byte = [&](int64_t i) -> int { return i < n ? d[i] : 0; };
  while (L > 0) {
    int q = byte(p);
    if ((q >> 4) > 1 || (q & 15) > 3) return;
    if (defined != nullptr) defined[q >> 4][q & 15] = true;
    int64_t codes = 0;
    for (int i = 1; i <= 16; i++) codes += byte(p + i);
    if (codes > 256)
      fail(MLT_IMAGE_ERR_CORRUPT, "corrupt JPEG: the Huffman table (DHT) at byte " + std::to_string(p) + " declares " +
                                      std::to_string(codes) + " codes, more than 256");
    p += 17 + codes;
    L -= 17 + codes;
  }
}

// Walks the marker segments up to EOI. strict (before decoding): the data must reach EOI and be well formed. Otherwise
// (before stb reads the header) only the Huffman tables are checked and anything else is left to stb.
// A scan's Huffman tables must have been defined before it: stb_image 2.27 allocates its tables uninitialised and,
// decoding with one no DHT defined, computes a symbol index from garbage and reads far outside the table (found by
// build/fuzz.sh; upstream 2.28 bounds the index). DC tables serve the first DC scans (all scans when sequential), AC
// tables the AC scans.
void check_jpeg_sos(const uint8_t* d, int64_t begin, int64_t end, bool progressive, const bool (*defined)[4]) {
  if (begin >= end) return;
  int ns = d[begin];
  if (begin + 1 + 2 * ns + 3 > end) return;  // stb reports a bad SOS itself
  const int ss = d[begin + 1 + 2 * ns], ah = d[begin + 3 + 2 * ns] >> 4;
  const bool needs_dc = !progressive || (ss == 0 && ah == 0), needs_ac = !progressive || ss != 0;
  for (int i = 0; i < ns; i++) {
    int t = d[begin + 2 + 2 * i], td = t >> 4, ta = t & 15;
    if (td > 3 || ta > 3) return;
    if ((needs_dc && !defined[0][td]) || (needs_ac && !defined[1][ta]))
      fail(MLT_IMAGE_ERR_CORRUPT, "corrupt JPEG: the scan at byte " + std::to_string(begin - 4) + " uses a Huffman table (" +
                                      (needs_dc && !defined[0][td] ? "DC " + std::to_string(td) : "AC " + std::to_string(ta)) +
                                      ") that no DHT defines before it");
  }
}

void check_jpeg(const uint8_t* d, int64_t n, bool strict = true) {
  int64_t p = 2;  // after SOI
  bool in_scan = false, progressive = false;
  bool defined[2][4] = {};
  while (true) {
    if (in_scan) {
      // Entropy-coded data: 0xFF is followed by 0x00 (stuffing) or RST0-7; anything else is a marker.
      const uint8_t* q = d + p;
      while (true) {
        const void* ff = std::memchr(q, 0xFF, static_cast<size_t>(d + n - q));
        if (ff == nullptr) { if (!strict) return; fail(MLT_IMAGE_ERR_TRUNCATED, "truncated JPEG: the data ends inside a scan, before the end-of-image marker"); }
        q = static_cast<const uint8_t*>(ff);
        if (q + 1 >= d + n) { if (!strict) return; fail(MLT_IMAGE_ERR_TRUNCATED, "truncated JPEG: the data ends inside a scan, before the end-of-image marker"); }
        uint8_t m = q[1];
        if (m == 0x00 || (m >= 0xD0 && m <= 0xD7) || m == 0xFF) {
          q += (m == 0xFF) ? 1 : 2;
          continue;
        }
        break;
      }
      p = q - d;
      in_scan = false;
    }
    if (p >= n) { if (!strict) return; fail(MLT_IMAGE_ERR_TRUNCATED, "truncated JPEG: the data ends before the end-of-image marker"); }
    if (d[p] != 0xFF) {
      if (strict) fail(MLT_IMAGE_ERR_CORRUPT, "corrupt JPEG: expected a marker at byte " + std::to_string(p));
      // stb's header reader skips padding between segments up to the next 0xFF: so does this walk.
      const void* ff = std::memchr(d + p, 0xFF, static_cast<size_t>(n - p));
      if (ff == nullptr) return;
      p = static_cast<const uint8_t*>(ff) - d;
    }
    while (p < n && d[p] == 0xFF) p++;  // fill bytes
    if (p >= n) { if (!strict) return; fail(MLT_IMAGE_ERR_TRUNCATED, "truncated JPEG: the data ends before the end-of-image marker"); }
    uint8_t m = d[p++];
    if (m == 0xD9) return;                                // EOI
    if (m == 0x01 || (m >= 0xD0 && m <= 0xD7)) continue;  // standalone markers
    if (p + 2 > n) { if (!strict) return; fail(MLT_IMAGE_ERR_TRUNCATED, "truncated JPEG: the data ends inside a marker segment"); }
    int64_t len = be16(d + p);
    if (len < 2) {
      if (!strict) return;
      fail(MLT_IMAGE_ERR_CORRUPT, "corrupt JPEG: marker segment of length " + std::to_string(len));
    }
    if (m == 0xC4) check_jpeg_dht(d, n, p + 2, len - 2, defined);
    if (p + len > n) { if (!strict) return; fail(MLT_IMAGE_ERR_TRUNCATED, "truncated JPEG: the data ends inside a marker segment"); }
    if (m == 0xC2) progressive = true;
    if (m == 0xDA && strict) check_jpeg_sos(d, p + 2, p + len, progressive, defined);
    p += len;
    if (m == 0xDA) in_scan = true;
  }
}

void check_png(const uint8_t* d, int64_t n) {
  int64_t p = 8;
  bool first = true;
  while (true) {
    if (p + 8 > n) fail(MLT_IMAGE_ERR_TRUNCATED, "truncated PNG: the data ends before the IEND chunk");
    int64_t len = be32(d + p);
    const uint8_t* type = d + p + 4;
    if (len > 0x7FFFFFFF) fail(MLT_IMAGE_ERR_CORRUPT, "corrupt PNG: chunk length " + std::to_string(len));
    for (int i = 0; i < 4; i++) {
      uint8_t c = type[i];
      if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')))
        fail(MLT_IMAGE_ERR_CORRUPT, "corrupt PNG: invalid chunk type at byte " + std::to_string(p + 4));
    }
    std::string t(reinterpret_cast<const char*>(type), 4);
    if (first && t != "IHDR") fail(MLT_IMAGE_ERR_CORRUPT, "corrupt PNG: the first chunk is " + t + ", not IHDR");
    first = false;
    if (p + 12 + len > n) fail(MLT_IMAGE_ERR_TRUNCATED, "truncated PNG: the data ends inside the " + t + " chunk");
    uint32_t stored = be32(d + p + 8 + len);
    uint32_t actual = crc32()(type, static_cast<size_t>(len + 4));
    if (stored != actual) fail(MLT_IMAGE_ERR_CORRUPT, "corrupt PNG: CRC mismatch in the " + t + " chunk at byte " + std::to_string(p));
    p += 12 + len;
    if (t == "IEND") return;
  }
}

void gif_skip_subblocks(const uint8_t* d, int64_t n, int64_t& p) {
  while (true) {
    if (p >= n) fail(MLT_IMAGE_ERR_TRUNCATED, "truncated GIF: the data ends inside the first frame");
    uint8_t sz = d[p++];
    if (sz == 0) return;
    p += sz;
  }
}

void check_gif(const uint8_t* d, int64_t n) {
  if (n < 13) fail(MLT_IMAGE_ERR_TRUNCATED, "truncated GIF: the header is incomplete");
  int64_t p = 13;
  if (d[10] & 0x80) p += 3LL * (1LL << ((d[10] & 7) + 1));
  while (true) {
    if (p >= n) fail(MLT_IMAGE_ERR_TRUNCATED, "truncated GIF: the data ends before the first frame");
    uint8_t tag = d[p++];
    if (tag == 0x21) {  // extension: label, then sub-blocks
      p++;
      gif_skip_subblocks(d, n, p);
    } else if (tag == 0x2C) {  // image descriptor
      if (p + 9 > n) fail(MLT_IMAGE_ERR_TRUNCATED, "truncated GIF: the data ends inside the first frame's descriptor");
      uint8_t flags = d[p + 8];
      p += 9;
      if (flags & 0x80) p += 3LL * (1LL << ((flags & 7) + 1));
      p++;  // LZW minimum code size
      gif_skip_subblocks(d, n, p);
      return;
    } else if (tag == 0x3B) {
      fail(MLT_IMAGE_ERR_CORRUPT, "corrupt GIF: no frame before the trailer");
    } else {
      fail(MLT_IMAGE_ERR_CORRUPT, "corrupt GIF: unknown block 0x" + std::to_string(tag));
    }
  }
}

void check_bmp(const uint8_t* d, int64_t n) {
  if (n < 30) fail(MLT_IMAGE_ERR_TRUNCATED, "truncated BMP: the header is incomplete");
  int64_t offset = le32(d + 10);
  uint32_t hsz = le32(d + 14);
  int64_t w, h;
  int bpp;
  uint32_t compression = 0;
  if (hsz == 12) {
    w = le16(d + 18);
    h = le16(d + 20);
    bpp = static_cast<int>(le16(d + 24));
  } else {
    if (n < 34) fail(MLT_IMAGE_ERR_TRUNCATED, "truncated BMP: the header is incomplete");
    w = static_cast<int32_t>(le32(d + 18));
    h = static_cast<int32_t>(le32(d + 22));
    bpp = static_cast<int>(le16(d + 28));
    compression = le32(d + 30);
  }
  if (compression != 0 && compression != 3) return;  // RLE and others: stb reports them
  if (w <= 0 || bpp <= 0) return;                    // stb reports bad sizes
  int64_t rows = h < 0 ? -h : h;
  int64_t row_bytes = ((mul_sat(w, bpp) / 32) + 1) * 4;  // ((w * bpp + 31) / 32) * 4, without overflow
  if ((mul_sat(w, bpp) % 32) == 0) row_bytes -= 4;
  int64_t pixel_bytes = mul_sat(row_bytes, rows);
  if (pixel_bytes > n - offset)
    fail(MLT_IMAGE_ERR_TRUNCATED, "truncated BMP: " + std::to_string(n - offset) + " bytes of pixel data, " +
                                      std::to_string(pixel_bytes) + " expected");
}

bool pnm_space(uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

int64_t pnm_int(const uint8_t* d, int64_t n, int64_t& p) {
  while (p < n && (pnm_space(d[p]) || d[p] == '#')) {
    if (d[p] == '#')
      while (p < n && d[p] != '\n' && d[p] != '\r') p++;
    else
      p++;
  }
  if (p >= n) fail(MLT_IMAGE_ERR_TRUNCATED, "truncated PNM: the header is incomplete");
  if (d[p] < '0' || d[p] > '9') fail(MLT_IMAGE_ERR_CORRUPT, "corrupt PNM: expected a number in the header");
  int64_t v = 0;
  while (p < n && d[p] >= '0' && d[p] <= '9') {
    v = v * 10 + (d[p++] - '0');
    if (v > (1LL << 40)) fail(MLT_IMAGE_ERR_CORRUPT, "corrupt PNM: number too large in the header");
  }
  return v;
}

// stb_image 2.27 reads the PNM header's numbers as value * 10 + digit in an int with no bound (a signed overflow
// found by build/fuzz.sh; upstream 2.28 stops at "integer parse overflow"). Checked here first, reading the numbers
// as stb does: whitespace and comments skipped, digits until a non-digit; a missing number reads as 0 there and
// stops the parse here (stb then reads only zeros).
void check_pnm_numbers(const uint8_t* d, int64_t n) {
  static const char* const what[3] = {"width", "height", "maximum value"};
  const int64_t limit[3] = {int64_t{1} << 24, int64_t{1} << 24, 65535};  // stb's STBI_MAX_DIMENSIONS and 16 bits
  int64_t p = 2;
  for (int i = 0; i < 3; i++) {
    while (p < n && (pnm_space(d[p]) || d[p] == '#')) {
      if (d[p] == '#')
        while (p < n && d[p] != '\n' && d[p] != '\r') p++;
      else
        p++;
    }
    if (p >= n || d[p] < '0' || d[p] > '9') return;
    int64_t v = 0;
    while (p < n && d[p] >= '0' && d[p] <= '9') {
      v = v * 10 + (d[p++] - '0');
      if (v > limit[i])
        fail(MLT_IMAGE_ERR_CORRUPT, std::string("corrupt PNM: the header's ") + what[i] + " is larger than " + std::to_string(limit[i]));
    }
  }
}

void check_pnm(const uint8_t* d, int64_t n) {
  if (d[1] != '5' && d[1] != '6')
    fail(MLT_IMAGE_ERR_UNSUPPORTED, std::string("PNM variant P") + char(d[1]) + " is not supported (binary P5 and P6 are)");
  int64_t p = 2;
  int64_t w = pnm_int(d, n, p), h = pnm_int(d, n, p), maxv = pnm_int(d, n, p);
  if (p >= n) fail(MLT_IMAGE_ERR_TRUNCATED, "truncated PNM: no pixel data");
  p++;  // one whitespace byte
  int64_t need = mul_sat(mul_sat(w, h), (d[1] == '6' ? 3 : 1) * (maxv > 255 ? 2 : 1));
  if (need > n - p)
    fail(MLT_IMAGE_ERR_TRUNCATED, "truncated PNM: " + std::to_string(n - p) + " bytes of pixel data, " + std::to_string(need) + " expected");
}

void check_tga(const uint8_t* d, int64_t n) {
  if (n < 18) fail(MLT_IMAGE_ERR_TRUNCATED, "truncated TGA: the header is incomplete");
  int id_len = d[0], cmap_type = d[1], type = d[2];
  int64_t cmap_len = le16(d + 5), cmap_bits = d[7];
  int64_t w = le16(d + 12), h = le16(d + 14), bpp = d[16];
  int64_t p = 18 + id_len + (cmap_type ? cmap_len * ((cmap_bits + 7) / 8) : 0);
  int64_t px = (bpp + 7) / 8, count = w * h;
  if (type == 1 || type == 2 || type == 3) {
    if (p + count * px > n) fail(MLT_IMAGE_ERR_TRUNCATED, "truncated TGA: the pixel data is incomplete");
  } else if (type == 9 || type == 10 || type == 11) {
    int64_t done = 0;
    while (done < count) {
      if (p >= n) fail(MLT_IMAGE_ERR_TRUNCATED, "truncated TGA: the run-length data is incomplete");
      uint8_t hdr = d[p++];
      int64_t k = (hdr & 0x7F) + 1;
      p += (hdr & 0x80) ? px : k * px;
      done += k;
    }
    if (p > n) fail(MLT_IMAGE_ERR_TRUNCATED, "truncated TGA: the run-length data is incomplete");
  }
}

// ---- EXIF orientation (JPEG APP1 "Exif\0\0" + TIFF IFD0 tag 0x0112) ----
int exif_orientation(const uint8_t* d, int64_t n) {
  int64_t p = 2;
  while (p + 4 <= n) {
    if (d[p] != 0xFF) return 1;
    uint8_t m = d[p + 1];
    if (m == 0xFF) { p++; continue; }
    if (m == 0xDA || m == 0xD9) return 1;  // image data starts: no EXIF seen
    if (m == 0x01 || (m >= 0xD0 && m <= 0xD7)) { p += 2; continue; }
    int64_t len = be16(d + p + 2);
    if (len < 2 || p + 2 + len > n) return 1;
    const uint8_t* s = d + p + 4;
    int64_t slen = len - 2;
    if (m == 0xE1 && slen >= 14 && std::memcmp(s, "Exif\0\0", 6) == 0) {
      const uint8_t* t = s + 6;
      int64_t tl = slen - 6;
      bool le;
      if (t[0] == 'I' && t[1] == 'I') le = true;
      else if (t[0] == 'M' && t[1] == 'M') le = false;
      else return 1;
      auto u16 = [&](int64_t o) -> uint32_t { return le ? le16(t + o) : be16(t + o); };
      auto u32 = [&](int64_t o) -> uint32_t { return le ? le32(t + o) : be32(t + o); };
      if (u16(2) != 42) return 1;
      int64_t ifd = u32(4);
      if (ifd < 8 || ifd + 2 > tl) return 1;
      int64_t entries = u16(ifd);
      for (int64_t i = 0; i < entries; i++) {
        int64_t e = ifd + 2 + 12 * i;
        if (e + 12 > tl) return 1;
        if (u16(e) == 0x0112) {
          uint32_t type = u16(e + 2);
          uint32_t v = type == 3 ? u16(e + 8) : (type == 4 ? u32(e + 8) : 1);
          return (v >= 1 && v <= 8) ? static_cast<int>(v) : 1;
        }
      }
      return 1;
    }
    p += 2 + len;
  }
  return 1;
}

struct Header {
  int format = MLT_IMAGE_FORMAT_UNKNOWN;
  int w = 0, h = 0, comp = 0, bits = 8, orientation = 1;
};

// Width and height as the header declares them, read without stb (which refuses some sizes before saying which),
// so that the pixel limit is checked first. False when the header is too short or not understood.
bool declared_size(const uint8_t* d, int64_t n, int format, int64_t& w, int64_t& h) {
  switch (format) {
    case MLT_IMAGE_FORMAT_PNG:
      if (n < 24 || std::memcmp(d + 12, "IHDR", 4) != 0) return false;
      w = be32(d + 16); h = be32(d + 20);
      return true;
    case MLT_IMAGE_FORMAT_GIF:
      if (n < 10) return false;
      w = le16(d + 6); h = le16(d + 8);
      return true;
    case MLT_IMAGE_FORMAT_BMP:
      if (n < 26) return false;
      if (le32(d + 14) == 12) { w = le16(d + 18); h = le16(d + 20); }
      else { w = static_cast<int32_t>(le32(d + 18)); h = static_cast<int32_t>(le32(d + 22)); }
      if (h < 0) h = -h;
      return true;
    case MLT_IMAGE_FORMAT_JPEG: {
      int64_t p = 2;
      while (p + 9 <= n) {
        if (d[p] != 0xFF) return false;
        uint8_t m = d[p + 1];
        if (m == 0xFF) { p++; continue; }
        if (m == 0xD8 || m == 0x01 || (m >= 0xD0 && m <= 0xD7)) { p += 2; continue; }
        if (m == 0xDA || m == 0xD9) return false;
        if (m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC) {
          h = be16(d + p + 5); w = be16(d + p + 7);
          return true;
        }
        p += 2 + be16(d + p + 2);
      }
      return false;
    }
    case MLT_IMAGE_FORMAT_PNM: {
      if (n < 3 || (d[1] != '5' && d[1] != '6')) return false;
      try {
        int64_t p = 2;
        w = pnm_int(d, n, p);
        h = pnm_int(d, n, p);
        return true;
      } catch (const ImageError&) {
        return false;
      }
    }
    default:
      return false;
  }
}

// stb's info for one format (so that its failure reason is that format's, not "unknown image type").
int stb_info(const uint8_t* d, int len, int format, int* w, int* h, int* comp) {
  stbi__context s;
  stbi__start_mem(&s, d, len);
  switch (format) {
    case MLT_IMAGE_FORMAT_JPEG: return stbi__jpeg_info(&s, w, h, comp);
    case MLT_IMAGE_FORMAT_PNG: return stbi__png_info(&s, w, h, comp);
    case MLT_IMAGE_FORMAT_GIF: return stbi__gif_info(&s, w, h, comp);
    case MLT_IMAGE_FORMAT_BMP: return stbi__bmp_info(&s, w, h, comp);
    case MLT_IMAGE_FORMAT_PNM: return stbi__pnm_info(&s, w, h, comp);
    // No signature of ours: only TGA is left (stbi_info_from_memory would try JPEG first, with a looser test).
    default: return stbi__tga_info(&s, w, h, comp);
  }
}

// The format stbi_load_from_memory will decode the data as: the first of its tests, in its order, that passes.
// Its tests are looser than sniff() (the JPEG test skips leading 0xFF fill bytes, for one), and a file that we check
// as one format but stb decodes as another escapes our checks: "FF FF D8 ..." passed as TGA and stb decoded it as a
// JPEG with a bad Huffman table (found by build/fuzz.sh). So stb_info reads signature-less data as TGA only (that
// input is now "not an image"), and the two must agree before anything is decoded.
int stb_load_format(const uint8_t* d, int len) {
  auto test = [&](int (*f)(stbi__context*)) {
    stbi__context s;
    stbi__start_mem(&s, d, len);
    return f(&s) != 0;
  };
  if (test(stbi__png_test)) return MLT_IMAGE_FORMAT_PNG;
  if (test(stbi__bmp_test)) return MLT_IMAGE_FORMAT_BMP;
  if (test(stbi__gif_test)) return MLT_IMAGE_FORMAT_GIF;
  if (test(stbi__jpeg_test)) return MLT_IMAGE_FORMAT_JPEG;
  if (test(stbi__pnm_test)) return MLT_IMAGE_FORMAT_PNM;
  if (test(stbi__tga_test)) return MLT_IMAGE_FORMAT_TGA;
  return MLT_IMAGE_FORMAT_UNKNOWN;
}

Header read_header(const uint8_t* d, int64_t n, int apply_orientation, int64_t max_pixels) {
  if (d == nullptr && n != 0) fail(MLT_IMAGE_ERR_ARGUMENT, "null data pointer");
  if (n <= 0) fail(MLT_IMAGE_ERR_EMPTY, "empty: the file has zero bytes");
  if (n > 0x7FFFFFFF) fail(MLT_IMAGE_ERR_TOO_LARGE, "the encoded image is larger than 2 GiB");
  Header h;
  h.format = sniff(d, n);
  int len = static_cast<int>(n);
  if (h.format == MLT_IMAGE_FORMAT_PNM && d[1] != '5' && d[1] != '6')
    fail(MLT_IMAGE_ERR_UNSUPPORTED, std::string("PNM variant P") + char(d[1]) + " is not supported (binary P5 and P6 are)");
  int64_t dw = 0, dh = 0;
  bool declared = declared_size(d, n, h.format, dw, dh);
  const int64_t declared_pixels = mul_sat(dw, dh);
  std::string size = std::to_string(dw) + "x" + std::to_string(dh) + " = " +
                     (declared_pixels == INT64_MAX ? std::string("more than 2^63") : std::to_string(declared_pixels)) + " pixels";
  if (declared && max_pixels > 0 && declared_pixels > max_pixels)
    fail(MLT_IMAGE_ERR_TOO_LARGE, std::string("decompression bomb guard: the ") + format_name(h.format) + " header declares " + size +
                                      ", above the limit of " + std::to_string(max_pixels));
  if (h.format == MLT_IMAGE_FORMAT_JPEG) check_jpeg(d, n, /*strict=*/false);  // tables stb would mis-handle
  if (h.format == MLT_IMAGE_FORMAT_PNM) check_pnm_numbers(d, n);                // numbers stb would overflow on
  if (!stb_info(d, len, h.format, &h.w, &h.h, &h.comp)) {
    const char* reason = stbi_failure_reason();
    std::string why = reason ? reason : "unreadable header";
    if (h.format == MLT_IMAGE_FORMAT_UNKNOWN) {
      if (const char* foreign = foreign_format(d, n))
        fail(MLT_IMAGE_ERR_UNSUPPORTED, std::string("unsupported image format: ") + foreign +
                                            " (supported: JPEG, PNG, BMP, GIF, TGA, PNM)");
      fail(MLT_IMAGE_ERR_NOT_IMAGE, "not an image: no JPEG, PNG, BMP, GIF, TGA or PNM signature");
    }
    // A header cut short first: stb reads past the end as zeros, so a cut PNG IHDR can look "too large".
    if (!declared && n < 64)
      fail(MLT_IMAGE_ERR_TRUNCATED, std::string("truncated ") + format_name(h.format) + ": the header is incomplete (" + why + ")");
    if (why == "too large")
      fail(MLT_IMAGE_ERR_TOO_LARGE, std::string("the ") + format_name(h.format) + " header declares " + (declared ? size : "a size") +
                                        ", more than stb_image decodes (1 GiB of pixels)");
    fail(MLT_IMAGE_ERR_CORRUPT, std::string("corrupt ") + format_name(h.format) + " header: " + why);
  }
  if (h.format == MLT_IMAGE_FORMAT_UNKNOWN) h.format = MLT_IMAGE_FORMAT_TGA;  // stb's last, signature-less test
  const int stb_format = stb_load_format(d, len);
  if (stb_format != h.format)
    fail(MLT_IMAGE_ERR_CORRUPT, std::string("corrupt ") + format_name(h.format) + ": the data is ambiguous (stb_image would decode it as " +
                                    format_name(stb_format) + ")");
  if (h.w <= 0 || h.h <= 0)
    fail(MLT_IMAGE_ERR_CORRUPT, std::string("corrupt ") + format_name(h.format) + ": size " + std::to_string(h.w) + "x" + std::to_string(h.h));
  int64_t pixels = static_cast<int64_t>(h.w) * h.h;
  if (max_pixels > 0 && pixels > max_pixels)
    fail(MLT_IMAGE_ERR_TOO_LARGE, std::string("decompression bomb guard: the ") + format_name(h.format) + " header declares " +
                                      std::to_string(h.w) + "x" + std::to_string(h.h) + " = " + std::to_string(pixels) +
                                      " pixels, above the limit of " + std::to_string(max_pixels));
  h.bits = stbi_is_16_bit_from_memory(d, len) ? 16 : 8;
  if (h.format == MLT_IMAGE_FORMAT_JPEG) {
    h.orientation = exif_orientation(d, n);
    if (apply_orientation && h.orientation >= 5) std::swap(h.w, h.h);
  }
  return h;
}

void check_complete(const uint8_t* d, int64_t n, int format) {
  switch (format) {
    case MLT_IMAGE_FORMAT_JPEG: check_jpeg(d, n); break;
    case MLT_IMAGE_FORMAT_PNG: check_png(d, n); break;
    case MLT_IMAGE_FORMAT_GIF: check_gif(d, n); break;
    case MLT_IMAGE_FORMAT_BMP: check_bmp(d, n); break;
    case MLT_IMAGE_FORMAT_PNM: check_pnm(d, n); break;
    case MLT_IMAGE_FORMAT_TGA: check_tga(d, n); break;
    default: break;
  }
}

void fill_info(const Header& h, mlt_image_info_t* info) {
  if (info == nullptr) return;
  info->width = h.w;
  info->height = h.h;
  info->channels = h.comp;
  info->format = h.format;
  info->orientation = h.orientation;
  info->bits = h.bits;
}

// Copies src (sw x sh x c, as stored) into dst applying the EXIF orientation.
void orient_copy(const uint8_t* src, int sw, int sh, int c, int orientation, uint8_t* dst) {
  if (orientation <= 1 || orientation > 8) {
    std::memcpy(dst, src, static_cast<size_t>(sw) * sh * c);
    return;
  }
  bool swap = orientation >= 5;
  int dw = swap ? sh : sw, dh = swap ? sw : sh;
  for (int y = 0; y < dh; y++) {
    uint8_t* row = dst + static_cast<size_t>(y) * dw * c;
    for (int x = 0; x < dw; x++) {
      int sx, sy;
      switch (orientation) {
        case 2: sx = sw - 1 - x; sy = y; break;
        case 3: sx = sw - 1 - x; sy = sh - 1 - y; break;
        case 4: sx = x; sy = sh - 1 - y; break;
        case 5: sx = y; sy = x; break;
        case 6: sx = y; sy = sh - 1 - x; break;
        case 7: sx = sw - 1 - y; sy = sh - 1 - x; break;
        default: sx = sw - 1 - y; sy = x; break;  // 8
      }
      const uint8_t* s = src + (static_cast<size_t>(sy) * sw + sx) * c;
      for (int k = 0; k < c; k++) row[x * c + k] = s[k];
    }
  }
}

// stb's convert_format for the cases it would do here: gray replicated to RGB, alpha kept or added as 255, colour
// to gray with Pillow's weights (like the to_gray path below).
void convert_channels(const stbi_uc* src, stbi_uc* dst, size_t count, int from, int to) {
  for (size_t i = 0; i < count; i++) {
    const stbi_uc* s = src + i * from;
    stbi_uc* o = dst + i * to;
    const bool colour = from >= 3;
    const stbi_uc alpha = (from == 2 || from == 4) ? s[from - 1] : 255;
    if (to >= 3) {
      o[0] = s[0];
      o[1] = colour ? s[1] : s[0];
      o[2] = colour ? s[2] : s[0];
    } else {
      o[0] = colour ? static_cast<stbi_uc>((s[0] * 19595u + s[1] * 38470u + s[2] * 7471u + 0x8000u) >> 16) : s[0];
    }
    if (to == 2 || to == 4) o[to - 1] = alpha;
  }
}

// A binary 16-bit PGM/PPM (check_pnm has checked its size): the high byte of every big-endian sample, the rule
// for 16-bit PNGs too. Returns a malloc'ed w x h x comp buffer.
stbi_uc* read_pnm16(const uint8_t* d, int64_t n, int& w, int& h, int& comp) {
  int64_t p = 2;
  int64_t pw = pnm_int(d, n, p), ph = pnm_int(d, n, p);
  pnm_int(d, n, p);  // the maximum value (> 255 here)
  p++;               // one whitespace byte
  comp = d[1] == '6' ? 3 : 1;
  if (pw <= 0 || ph <= 0 || pw > (1 << 24) || ph > (1 << 24)) fail(MLT_IMAGE_ERR_CORRUPT, "corrupt PNM: bad size");
  const size_t count = static_cast<size_t>(pw) * static_cast<size_t>(ph) * comp;
  if (mul_sat(static_cast<int64_t>(count), 2) > n - p) fail(MLT_IMAGE_ERR_TRUNCATED, "truncated PNM: the pixel data is incomplete");
  auto* out = static_cast<stbi_uc*>(std::malloc(count));
  if (out == nullptr) fail(MLT_IMAGE_ERR_TOO_LARGE, "out of memory while decoding the image");
  for (size_t i = 0; i < count; i++) out[i] = d[p + 2 * static_cast<int64_t>(i)];
  w = static_cast<int>(pw);
  h = static_cast<int>(ph);
  return out;
}

struct StbFree {
  void operator()(stbi_uc* p) const { stbi_image_free(p); }
};

int decode(const uint8_t* d, int64_t n, int channels, int apply_orientation, int64_t max_pixels, uint8_t* out,
           int64_t out_len, mlt_image_info_t* info) {
  if (channels < 1 || channels > 4) fail(MLT_IMAGE_ERR_ARGUMENT, "channels must be 1, 2, 3 or 4, got " + std::to_string(channels));
  Header h = read_header(d, n, apply_orientation, max_pixels);
  fill_info(h, info);
  int64_t need = static_cast<int64_t>(h.w) * h.h * channels;
  if (out == nullptr || out_len != need)
    fail(MLT_IMAGE_ERR_ARGUMENT, "output buffer holds " + std::to_string(out_len) + " bytes, the image needs " + std::to_string(need));
  check_complete(d, n, h.format);
  // Colour to gray goes through RGB and Pillow's weights (stb's own luma weights differ).
  bool to_gray = channels <= 2 && h.comp >= 3;
  int req = to_gray ? (channels == 1 ? 3 : 4) : channels;
  // stb_image 2.27 converts a 16-bit PNM's channels as if it were 8-bit and then reads twice the buffer it made
  // (a heap overflow found by build/fuzz.sh: CVE-2021-42716's bug), and it reads the big-endian samples in the
  // machine's byte order (so it kept the low byte). 16-bit PNMs are therefore read here, and converted below.
  const bool own_conversion = h.format == MLT_IMAGE_FORMAT_PNM && h.bits == 16;
  int w = 0, hh = 0, comp = 0;
  std::unique_ptr<stbi_uc, StbFree> px(own_conversion ? read_pnm16(d, n, w, hh, comp)
                                                      : stbi_load_from_memory(d, static_cast<int>(n), &w, &hh, &comp, req));
  if (!px) {
    const char* reason = stbi_failure_reason();
    std::string why = reason ? reason : "unknown reason";
    int code = (why == "outofmem") ? MLT_IMAGE_ERR_TOO_LARGE : MLT_IMAGE_ERR_CORRUPT;
    if (why == "BMP RLE" || why == "BMP JPEG/PNG" || why == "unknown BMP" || why == "unsupported" ||
        why == "unsupported bit depth" || why == "1/2/4/8/16-bit only" || why == "only 8-bit")
      code = MLT_IMAGE_ERR_UNSUPPORTED;
    fail(code, std::string(code == MLT_IMAGE_ERR_UNSUPPORTED ? "unsupported " : "corrupt ") + format_name(h.format) + ": " + why);
  }
  const bool swapped = apply_orientation && h.orientation >= 5;
  if (w != (swapped ? h.h : h.w) || hh != (swapped ? h.w : h.h))
    fail(MLT_IMAGE_ERR_CORRUPT, std::string("corrupt ") + format_name(h.format) + ": the header says " + std::to_string(h.w) + "x" +
                                    std::to_string(h.h) + " but the image decodes as " + std::to_string(w) + "x" + std::to_string(hh));
  if (own_conversion && comp != req) {
    if (comp < 1 || comp > 4) fail(MLT_IMAGE_ERR_CORRUPT, "corrupt PNM: " + std::to_string(comp) + " channels");
    std::unique_ptr<stbi_uc, StbFree> conv(static_cast<stbi_uc*>(std::malloc(static_cast<size_t>(w) * hh * req)));
    if (!conv) fail(MLT_IMAGE_ERR_TOO_LARGE, "out of memory while decoding the image");
    convert_channels(px.get(), conv.get(), static_cast<size_t>(w) * hh, comp, req);
    px = std::move(conv);
    comp = req;
  }
  const stbi_uc* src = px.get();
  std::unique_ptr<stbi_uc[]> gray;
  if (to_gray) {
    gray.reset(new stbi_uc[static_cast<size_t>(w) * hh * channels]);
    size_t count = static_cast<size_t>(w) * hh;
    for (size_t i = 0; i < count; i++) {
      const stbi_uc* s = src + i * req;
      // Pillow's convert("L"): ITU-R 601-2 luma in 16-bit fixed point, rounded (gray stays gray).
      gray[i * channels] = static_cast<stbi_uc>((s[0] * 19595u + s[1] * 38470u + s[2] * 7471u + 0x8000u) >> 16);
      if (channels == 2) gray[i * 2 + 1] = s[3];
    }
    src = gray.get();
  }
  int orientation = apply_orientation ? h.orientation : 1;
  orient_copy(src, w, hh, channels, orientation, out);
  return MLT_IMAGE_OK;
}

template <typename F>
int guard(F&& f) {
  try {
    return f();
  } catch (const ImageError& e) {
    mlt::set_error(e.message);
    return e.code;
  } catch (const std::bad_alloc&) {
    mlt::set_error("out of memory while decoding the image");
    return MLT_IMAGE_ERR_TOO_LARGE;
  } catch (const std::exception& e) {
    mlt::set_error(e.what());
    return MLT_IMAGE_ERR_CORRUPT;
  } catch (...) {
    mlt::set_error("unknown native error while decoding the image");
    return MLT_IMAGE_ERR_CORRUPT;
  }
}

}  // namespace

extern "C" {

int mlt_image_info(const uint8_t* data, int64_t len, int apply_orientation, int64_t max_pixels, mlt_image_info_t* info) {
  return guard([&] {
    Header h = read_header(data, len, apply_orientation, max_pixels);
    fill_info(h, info);
    return MLT_IMAGE_OK;
  });
}

int mlt_image_decode(const uint8_t* data, int64_t len, int channels, int apply_orientation, int64_t max_pixels,
                     uint8_t* out, int64_t out_len, mlt_image_info_t* info) {
  return guard([&] { return decode(data, len, channels, apply_orientation, max_pixels, out, out_len, info); });
}

int mlt_file_kind(const char* path) {
  if (path == nullptr) return -EINVAL;
  struct stat st;
  if (stat(path, &st) != 0) return -errno;
  if (S_ISREG(st.st_mode)) return MLT_FILE_REGULAR;
  if (S_ISDIR(st.st_mode)) return MLT_FILE_DIRECTORY;
  if (S_ISFIFO(st.st_mode)) return MLT_FILE_FIFO;
  if (S_ISCHR(st.st_mode)) return MLT_FILE_CHAR_DEVICE;
  if (S_ISBLK(st.st_mode)) return MLT_FILE_BLOCK_DEVICE;
  if (S_ISSOCK(st.st_mode)) return MLT_FILE_SOCKET;
  return MLT_FILE_OTHER;
}

}  // extern "C"
