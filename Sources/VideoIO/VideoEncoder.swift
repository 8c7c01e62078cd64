internal import CFFmpeg

/// Writes RGB24 frames to a video file with FFmpeg (H.264 where available, else MPEG-4 Part 2).
///
/// Blocking: call it from a dedicated thread. Call `finish()` to write the trailer;
/// a file whose encoder is dropped without it is left incomplete.
public final class VideoEncoder {
    /// The file being written.
    public let output: String
    private var format: UnsafeMutablePointer<AVFormatContext>?
    private var codec: UnsafeMutablePointer<AVCodecContext>?
    private var stream: UnsafeMutablePointer<AVStream>?
    private var frame: UnsafeMutablePointer<AVFrame>?
    private var packet: UnsafeMutablePointer<AVPacket>?
    private var scaler: OpaquePointer?
    private let width: Int
    private let height: Int
    private var frameNumber: Int64 = 0
    private var finished = false

    /// Creates `output` (its extension picks the container) for `width`x`height` frames at `frameRate`.
    public init(output: String, width: Int, height: Int, frameRate: Double) throws(VideoError) {
        self.output = output
        self.width = width
        self.height = height
        var ok = false
        defer { if !ok { release() } }

        var fmt: UnsafeMutablePointer<AVFormatContext>?
        try check(
            avformat_alloc_output_context2(&fmt, nil, nil, output), .encode, input: output, "choosing a container")
        format = fmt
        guard let fmt else { throw VideoError(.encode, input: output, message: "no container for this file name") }

        guard let encoder = avcodec_find_encoder_by_name("libx264") ?? avcodec_find_encoder(AV_CODEC_ID_MPEG4) else {
            throw VideoError(.encode, input: output, message: "FFmpeg has no H.264 or MPEG-4 encoder")
        }
        codec = avcodec_alloc_context3(encoder)
        stream = avformat_new_stream(fmt, nil)
        frame = av_frame_alloc()
        packet = av_packet_alloc()
        guard let codec, let stream, let frame, packet != nil else {
            throw VideoError(.encode, input: output, message: "out of memory")
        }
        let fps = frameRate > 0 ? frameRate : 25
        let rate = av_d2q(fps, 100_000)
        codec.pointee.width = Int32(width)
        codec.pointee.height = Int32(height)
        codec.pointee.pix_fmt = AV_PIX_FMT_YUV420P
        codec.pointee.time_base = AVRational(num: rate.den, den: rate.num)
        codec.pointee.framerate = rate
        codec.pointee.gop_size = 50
        if encoder.pointee.id == AV_CODEC_ID_MPEG4 {
            codec.pointee.bit_rate = 4_000_000
        } else {
            // The annotated video is for looking at; its encoding must leave the CPU to inference.
            try check(
                av_opt_set(codec.pointee.priv_data, "preset", "ultrafast", 0), .encode, input: output,
                "choosing the x264 preset")
            try check(
                av_opt_set(codec.pointee.priv_data, "crf", "23", 0), .encode, input: output, "setting the x264 CRF")
        }
        if fmt.pointee.oformat.pointee.flags & AVFMT_GLOBALHEADER != 0 {
            codec.pointee.flags |= Int32(AV_CODEC_FLAG_GLOBAL_HEADER)
        }
        try check(avcodec_open2(codec, encoder, nil), .encode, input: output, "opening the encoder")
        try check(
            avcodec_parameters_from_context(stream.pointee.codecpar, codec), .encode, input: output,
            "setting stream parameters")
        stream.pointee.time_base = codec.pointee.time_base

        frame.pointee.format = AV_PIX_FMT_YUV420P.rawValue
        frame.pointee.width = Int32(width)
        frame.pointee.height = Int32(height)
        try check(av_frame_get_buffer(frame, 0), .encode, input: output, "allocating a frame")

        if fmt.pointee.oformat.pointee.flags & AVFMT_NOFILE == 0 {
            try check(avio_open(&fmt.pointee.pb, output, AVIO_FLAG_WRITE), .encode, input: output, "creating the file")
        }
        try check(avformat_write_header(fmt, nil), .encode, input: output, "writing the header")
        scaler = sws_getContext(
            Int32(width), Int32(height), AV_PIX_FMT_RGB24, Int32(width), Int32(height), AV_PIX_FMT_YUV420P,
            Int32(SWS_BILINEAR), nil, nil, nil)
        guard scaler != nil else { throw VideoError(.encode, input: output, message: "cannot convert RGB to YUV") }
        ok = true
    }

    deinit { release() }

    private func release() {
        sws_freeContext(scaler)
        scaler = nil
        av_packet_free(&packet)
        av_frame_free(&frame)
        avcodec_free_context(&codec)
        if let format {
            if format.pointee.oformat.pointee.flags & AVFMT_NOFILE == 0 { avio_closep(&format.pointee.pb) }
            avformat_free_context(format)
        }
        format = nil
    }

    /// Encodes one RGB24 frame of the size given at creation.
    public func write(rgb pixels: [UInt8]) throws(VideoError) {
        guard let frame, let codec, !finished else { return }
        precondition(pixels.count == width * height * 3, "frame size differs from the encoder's")
        try check(av_frame_make_writable(frame), .encode, input: output, "preparing a frame")
        let rows = scaleRGB(pixels, width: width, height: height, with: scaler, into: frame)
        try check(rows, .encode, input: output, "converting a frame to YUV")
        frame.pointee.pts = frameNumber
        frameNumber += 1
        try check(avcodec_send_frame(codec, frame), .encode, input: output, "encoding frame \(frameNumber - 1)")
        try drain()
    }

    /// Flushes the encoder and writes the trailer; the file is complete afterwards.
    public func finish() throws(VideoError) {
        guard let codec, let format, !finished else { return }
        finished = true
        try check(avcodec_send_frame(codec, nil), .encode, input: output, "flushing the encoder")
        try drain()
        try check(av_write_trailer(format), .encode, input: output, "writing the trailer")
        // Closing flushes what is still buffered: a full disk shows here, not in `release()`, which
        // cannot report it (avio_closep leaves pb nil, so it is not closed twice).
        if format.pointee.oformat.pointee.flags & AVFMT_NOFILE == 0 {
            try check(avio_closep(&format.pointee.pb), .encode, input: output, "closing the file")
        }
    }

    private func drain() throws(VideoError) {
        guard let codec, let packet, let format, let stream else { return }
        while true {
            let status = avcodec_receive_packet(codec, packet)
            if status == cffmpeg_averror_eagain() || status == cffmpeg_averror_eof() { return }
            try check(status, .encode, input: output, "encoding")
            // Each packet lasts one frame; without it the MP4 edit list ends at the last pts and drops a frame.
            if packet.pointee.duration == 0 { packet.pointee.duration = 1 }
            av_packet_rescale_ts(packet, codec.pointee.time_base, stream.pointee.time_base)
            packet.pointee.stream_index = stream.pointee.index
            let written = av_interleaved_write_frame(format, packet)
            av_packet_unref(packet)
            try check(written, .encode, input: output, "writing a packet")
        }
    }
}

/// Converts packed RGB24 `pixels` into `frame`'s planes with `scaler`; swscale's row count (or its
/// negative status). Shared by the video and the JPEG encoders.
func scaleRGB(
    _ pixels: [UInt8], width: Int, height: Int, with scaler: OpaquePointer?, into frame: UnsafeMutablePointer<AVFrame>
) -> Int32 {
    pixels.withUnsafeBufferPointer { src -> Int32 in
        var srcData: [UnsafePointer<UInt8>?] = [src.baseAddress, nil, nil, nil]
        var srcStride: [Int32] = [Int32(width * 3), 0, 0, 0]
        return withUnsafePointer(to: &frame.pointee.data) { dataTuple in
            withUnsafePointer(to: &frame.pointee.linesize) { strideTuple in
                dataTuple.withMemoryRebound(to: UnsafeMutablePointer<UInt8>?.self, capacity: 8) { dst in
                    strideTuple.withMemoryRebound(to: Int32.self, capacity: 8) { dstStride in
                        sws_scale(scaler, &srcData, &srcStride, 0, Int32(height), dst, dstStride)
                    }
                }
            }
        }
    }
}
