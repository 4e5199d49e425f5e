/*
 * mlnet_image: image decoding for MLNet.Attention (stb_image compiled into libmlnet_torch.so).
 *
 * Conventions (the same as mlnet_torch.h)
 *  - Functions return 0 on success and a negative MLT_IMAGE_* code on failure; after a failure
 *    mlt_last_error() holds the reason (thread-local). No C++ exception crosses this boundary.
 *  - Pixels are uint8, row-major HWC (height, width, channels), channels 1 (gray), 2 (gray+alpha),
 *    3 (RGB) or 4 (RGBA).
 *  - Width and height are reported after the JPEG EXIF orientation has been applied (when asked to apply it).
 *  - Formats: JPEG (baseline, progressive), PNG (1/2/4/8/16-bit, gray, gray+alpha, palette, RGB, RGBA; 16-bit
 *    samples keep their high byte), BMP (uncompressed), GIF (first frame), TGA, PNM (binary P5/P6).
 *  - Before decoding, the data is checked to be complete (JPEG up to EOI, PNG chunks up to IEND with their
 *    CRCs, GIF up to the end of the first frame, BMP/PNM/TGA pixel data present), so a truncated file is an
 *    error rather than an image with a grey or black tail.
 */
#ifndef MLNET_IMAGE_H
#define MLNET_IMAGE_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MLT_IMAGE_API __attribute__((visibility("default")))

/* error codes */
#define MLT_IMAGE_OK 0
#define MLT_IMAGE_ERR_CORRUPT (-1)       /* recognised format, data inconsistent (bad CRC, bad huffman code, ...) */
#define MLT_IMAGE_ERR_NOT_IMAGE (-2)     /* no known image signature */
#define MLT_IMAGE_ERR_UNSUPPORTED (-3)   /* a known image format (TIFF, WebP, ...) or variant stb_image cannot decode */
#define MLT_IMAGE_ERR_TOO_LARGE (-4)     /* width*height above the caller's pixel limit (checked from the header) */
#define MLT_IMAGE_ERR_TRUNCATED (-5)     /* the data ends before the image does */
#define MLT_IMAGE_ERR_EMPTY (-6)         /* zero bytes */
#define MLT_IMAGE_ERR_ARGUMENT (-7)      /* bad argument (channel count, output buffer size) */

/* format codes */
#define MLT_IMAGE_FORMAT_UNKNOWN 0
#define MLT_IMAGE_FORMAT_JPEG 1
#define MLT_IMAGE_FORMAT_PNG 2
#define MLT_IMAGE_FORMAT_BMP 3
#define MLT_IMAGE_FORMAT_GIF 4
#define MLT_IMAGE_FORMAT_TGA 5
#define MLT_IMAGE_FORMAT_PNM 6

typedef struct mlt_image_info_t {
  int32_t width;        /* after orientation (when applied) */
  int32_t height;
  int32_t channels;     /* channels stored in the file: 1, 2, 3 or 4 */
  int32_t format;       /* MLT_IMAGE_FORMAT_* */
  int32_t orientation;  /* EXIF orientation 1..8 (1 when absent or not JPEG) */
  int32_t bits;         /* bits per sample in the file: 8 or 16 */
} mlt_image_info_t;

/* Reads the header only: size, channels, format, EXIF orientation. apply_orientation: whether width/height
 * are reported after the orientation. Returns MLT_IMAGE_ERR_TOO_LARGE when width*height > max_pixels
 * (max_pixels <= 0: no limit). */
MLT_IMAGE_API int mlt_image_info(const uint8_t* data, int64_t len, int apply_orientation, int64_t max_pixels,
                                 mlt_image_info_t* info);

/* Decodes into out (out_len must equal width*height*channels of the oriented image, as mlt_image_info
 * reports with the same apply_orientation). channels: 1, 2, 3 or 4; RGB->gray is Pillow's convert("L")
 * ((19595 R + 38470 G + 7471 B + 32768) >> 16), gray->RGB replicates, alpha is
 * dropped without compositing (PIL's convert("RGB")) or set to 255 when added. info may be NULL. */
MLT_IMAGE_API int mlt_image_decode(const uint8_t* data, int64_t len, int channels, int apply_orientation,
                                   int64_t max_pixels, uint8_t* out, int64_t out_len, mlt_image_info_t* info);

/* file kinds of mlt_file_kind */
#define MLT_FILE_REGULAR 1
#define MLT_FILE_DIRECTORY 2
#define MLT_FILE_FIFO 3
#define MLT_FILE_CHAR_DEVICE 4
#define MLT_FILE_BLOCK_DEVICE 5
#define MLT_FILE_SOCKET 6
#define MLT_FILE_OTHER 7

/* What path names after following symbolic links (stat(2)): one of MLT_FILE_*, or -errno when it cannot be
 * stat'ed (-ENOENT missing, -ELOOP a symlink loop, -EACCES, ...). Lets callers skip a FIFO or device before
 * open(2) blocks on it. */
MLT_IMAGE_API int mlt_file_kind(const char* path);

#ifdef __cplusplus
}
#endif

#endif /* MLNET_IMAGE_H */
