#ifndef BATCHLINE_CFFMPEG_SHIM_H
#define BATCHLINE_CFFMPEG_SHIM_H

#include <errno.h>
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/avutil.h>
#include <libavutil/dict.h>
#include <libavutil/error.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>

// AVERROR(EAGAIN) is a function-like macro: Swift cannot import it.
static inline int cffmpeg_averror_eagain(void) { return AVERROR(EAGAIN); }
// AVERROR_EOF is built with FFERRTAG, a function-like macro.
static inline int cffmpeg_averror_eof(void) { return AVERROR_EOF; }
// AVERROR_INVALIDDATA is built with FFERRTAG.
static inline int cffmpeg_averror_invaliddata(void) { return AVERROR_INVALIDDATA; }
// AV_NOPTS_VALUE is a cast expression macro.
static inline int64_t cffmpeg_nopts_value(void) { return AV_NOPTS_VALUE; }

#endif
