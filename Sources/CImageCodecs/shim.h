// Debian's image codecs and stores (libpng, libjpeg-turbo, libwebp, liblmdb, zlib), plus the
// few C helpers Swift cannot write itself: libjpeg reports errors by longjmp out of its
// error_exit hook (its default calls exit()), and setjmp can only live in C. The PNG helpers
// use libpng's simplified API, which catches its own errors; they sit here beside the JPEG ones
// so that both codecs are called the same way.
#include <stdio.h>
#include <string.h>
#include <setjmp.h>
#include <png.h>
#include <jpeglib.h>
#include <webp/decode.h>
#include <webp/encode.h>
#include <lmdb.h>
#include <zlib.h>

#define CQF_CODEC_MESSAGE_LENGTH 200

struct cqf_jpeg_error {
    struct jpeg_error_mgr manager;
    jmp_buf escape;
    char *message;
};

static inline void cqf_jpeg_error_exit(j_common_ptr info) {
    struct cqf_jpeg_error *error = (struct cqf_jpeg_error *)info->err;
    char text[JMSG_LENGTH_MAX];
    (*info->err->format_message)(info, text);
    snprintf(error->message, CQF_CODEC_MESSAGE_LENGTH, "%s", text);
    longjmp(error->escape, 1);
}

// Warnings (e.g. "premature end of data segment") are treated as errors: a damaged image is refused.
static inline void cqf_jpeg_emit_message(j_common_ptr info, int level) {
    if (level < 0) cqf_jpeg_error_exit(info);
}

/// Decodes the JPEG `data` (`size` bytes) at 1/`scale_denom` of its size (1, 2, 4 or 8: libjpeg
/// scales in the inverse DCT, far cheaper than decoding at full size and filtering) into
/// `channels` (1 gray or 3 RGB) interleaved bytes. Writes the decoded size to `width`/`height`.
/// Returns 0 on success; -2 when `capacity` bytes are too few (the size is still written);
/// -1 on a decoding error, with a message in `message` (CQF_CODEC_MESSAGE_LENGTH bytes).
static inline int cqf_jpeg_decode(const unsigned char *data, unsigned long size, int scale_denom,
                                  int channels, unsigned char *output, long capacity,
                                  int *width, int *height, char *message) {
    struct jpeg_decompress_struct info;
    struct cqf_jpeg_error error;
    info.err = jpeg_std_error(&error.manager);
    error.manager.error_exit = cqf_jpeg_error_exit;
    error.manager.emit_message = cqf_jpeg_emit_message;
    error.message = message;
    if (setjmp(error.escape)) {
        jpeg_destroy_decompress(&info);
        return -1;
    }
    jpeg_create_decompress(&info);
    jpeg_mem_src(&info, data, size);
    jpeg_read_header(&info, TRUE);
    info.scale_num = 1;
    info.scale_denom = (unsigned int)scale_denom;
    info.out_color_space = channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_calc_output_dimensions(&info);
    *width = (int)info.output_width;
    *height = (int)info.output_height;
    long row = (long)info.output_width * channels;
    if (row * (long)info.output_height > capacity) {
        jpeg_destroy_decompress(&info);
        return -2;
    }
    jpeg_start_decompress(&info);
    while (info.output_scanline < info.output_height) {
        JSAMPROW rows[1] = { output + row * info.output_scanline };
        jpeg_read_scanlines(&info, rows, 1);
    }
    jpeg_finish_decompress(&info);
    jpeg_destroy_decompress(&info);
    return 0;
}

/// Only the size of the JPEG `data`: 0 on success, -1 with a message otherwise.
static inline int cqf_jpeg_size(const unsigned char *data, unsigned long size,
                                int *width, int *height, char *message) {
    struct jpeg_decompress_struct info;
    struct cqf_jpeg_error error;
    info.err = jpeg_std_error(&error.manager);
    error.manager.error_exit = cqf_jpeg_error_exit;
    error.manager.emit_message = cqf_jpeg_emit_message;
    error.message = message;
    if (setjmp(error.escape)) {
        jpeg_destroy_decompress(&info);
        return -1;
    }
    jpeg_create_decompress(&info);
    jpeg_mem_src(&info, data, size);
    jpeg_read_header(&info, TRUE);
    *width = (int)info.image_width;
    *height = (int)info.image_height;
    jpeg_destroy_decompress(&info);
    return 0;
}

/// Writes `pixels` (height x width x channels, 1 or 3) as a baseline JPEG file at `quality`.
/// Returns 0 on success, -1 with a message otherwise.
static inline int cqf_jpeg_write_file(const char *path, const unsigned char *pixels, int width, int height,
                                      int channels, int quality, char *message) {
    FILE *file = fopen(path, "wb");
    if (!file) {
        snprintf(message, CQF_CODEC_MESSAGE_LENGTH, "cannot be opened for writing");
        return -1;
    }
    struct jpeg_compress_struct info;
    struct cqf_jpeg_error error;
    info.err = jpeg_std_error(&error.manager);
    error.manager.error_exit = cqf_jpeg_error_exit;
    error.message = message;
    if (setjmp(error.escape)) {
        jpeg_destroy_compress(&info);
        fclose(file);
        return -1;
    }
    jpeg_create_compress(&info);
    jpeg_stdio_dest(&info, file);
    info.image_width = (JDIMENSION)width;
    info.image_height = (JDIMENSION)height;
    info.input_components = channels;
    info.in_color_space = channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&info);
    jpeg_set_quality(&info, quality, TRUE);
    jpeg_start_compress(&info, TRUE);
    while (info.next_scanline < info.image_height) {
        JSAMPROW rows[1] = { (JSAMPROW)(pixels + (long)info.next_scanline * width * channels) };
        jpeg_write_scanlines(&info, rows, 1);
    }
    jpeg_finish_compress(&info);
    jpeg_destroy_compress(&info);
    if (fclose(file) != 0) {
        snprintf(message, CQF_CODEC_MESSAGE_LENGTH, "could not be written completely");
        return -1;
    }
    return 0;
}

/// Decodes the PNG `data` into `channels` (1 gray or 3 RGB) interleaved 8-bit bytes, whatever
/// its own depth, palette or alpha (alpha is composited on black). Same returns as cqf_jpeg_decode.
static inline int cqf_png_decode(const unsigned char *data, unsigned long size, int channels,
                                 unsigned char *output, long capacity, int *width, int *height, char *message) {
    png_image image;
    memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&image, data, size)) {
        snprintf(message, CQF_CODEC_MESSAGE_LENGTH, "%s", image.message);
        return -1;
    }
    image.format = channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
    *width = (int)image.width;
    *height = (int)image.height;
    if ((long)PNG_IMAGE_SIZE(image) > capacity) {
        png_image_free(&image);
        return -2;
    }
    png_color black = { 0, 0, 0 };
    if (!png_image_finish_read(&image, &black, output, 0, NULL)) {
        snprintf(message, CQF_CODEC_MESSAGE_LENGTH, "%s", image.message);
        return -1;
    }
    return 0;
}

/// Writes `pixels` (height x width x channels: 1 gray, 3 RGB, 4 RGBA) as an 8-bit PNG file.
/// Returns 0 on success, -1 with a message otherwise.
static inline int cqf_png_write_file(const char *path, const unsigned char *pixels, int width, int height,
                                     int channels, char *message) {
    png_image image;
    memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    image.width = (png_uint_32)width;
    image.height = (png_uint_32)height;
    image.format = channels == 1 ? PNG_FORMAT_GRAY : channels == 4 ? PNG_FORMAT_RGBA : PNG_FORMAT_RGB;
    if (!png_image_write_to_file(&image, path, 0, pixels, 0, NULL)) {
        snprintf(message, CQF_CODEC_MESSAGE_LENGTH, "%s", image.message);
        return -1;
    }
    return 0;
}
