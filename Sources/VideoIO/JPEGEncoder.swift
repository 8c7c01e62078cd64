internal import CFFmpeg

/// Encodes single RGB24 pictures as JPEG with FFmpeg's MJPEG encoder (a stream's snapshot).
/// Made per call: snapshots are asked for rarely, and nothing is kept between them.
public enum JPEGEncoder {
    /// `pixels` (`width * height * 3` bytes, RGB) as a JPEG; `quality` 2 (best) ... 31.
    public static func encode(rgb pixels: [UInt8], width: Int, height: Int, quality: Int = 5) throws(VideoError)
        -> [UInt8]
    {
        let name = "snapshot.jpg"
        precondition(pixels.count == width * height * 3, "RGB24 picture needs width*height*3 bytes")
        guard width > 0, height > 0 else { throw VideoError(.encode, input: name, message: "an empty picture") }
        guard let encoder = avcodec_find_encoder(AV_CODEC_ID_MJPEG) else {
            throw VideoError(.encode, input: name, message: "FFmpeg has no MJPEG encoder")
        }
        var codec = avcodec_alloc_context3(encoder)
        var frame = av_frame_alloc()
        var packet = av_packet_alloc()
        var scaler: OpaquePointer?
        defer {
            sws_freeContext(scaler)
            av_packet_free(&packet)
            av_frame_free(&frame)
            avcodec_free_context(&codec)
        }
        guard let codec, let frame, let packet else { throw VideoError(.encode, input: name, message: "out of memory") }
        codec.pointee.width = Int32(width)
        codec.pointee.height = Int32(height)
        codec.pointee.pix_fmt = AV_PIX_FMT_YUVJ420P
        codec.pointee.time_base = AVRational(num: 1, den: 25)
        codec.pointee.flags |= Int32(AV_CODEC_FLAG_QSCALE)
        codec.pointee.global_quality = Int32(max(2, min(31, quality))) * FF_QP2LAMBDA
        try check(avcodec_open2(codec, encoder, nil), .encode, input: name, "opening the MJPEG encoder")
        frame.pointee.format = AV_PIX_FMT_YUVJ420P.rawValue
        frame.pointee.width = Int32(width)
        frame.pointee.height = Int32(height)
        frame.pointee.quality = codec.pointee.global_quality
        try check(av_frame_get_buffer(frame, 0), .encode, input: name, "allocating a frame")
        scaler = sws_getContext(
            Int32(width), Int32(height), AV_PIX_FMT_RGB24, Int32(width), Int32(height), AV_PIX_FMT_YUVJ420P,
            Int32(SWS_BICUBIC), nil, nil, nil)
        guard let scaler else { throw VideoError(.encode, input: name, message: "cannot convert RGB to YUV") }
        let rows = scaleRGB(pixels, width: width, height: height, with: scaler, into: frame)
        try check(rows, .encode, input: name, "converting the picture to YUV")
        try check(avcodec_send_frame(codec, frame), .encode, input: name, "encoding the picture")
        try check(avcodec_send_frame(codec, nil), .encode, input: name, "flushing the encoder")
        var out: [UInt8] = []
        while true {
            let status = avcodec_receive_packet(codec, packet)
            if status == cffmpeg_averror_eof() || status == cffmpeg_averror_eagain() { break }
            try check(status, .encode, input: name, "reading the JPEG")
            out.append(contentsOf: UnsafeBufferPointer(start: packet.pointee.data, count: Int(packet.pointee.size)))
            av_packet_unref(packet)
        }
        guard !out.isEmpty else { throw VideoError(.encode, input: name, message: "the encoder gave nothing") }
        return out
    }
}
