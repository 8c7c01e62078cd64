internal import CFFmpeg
import Core
import Monitoring

#if canImport(Glibc)
    import Glibc
#endif

/// How a `VideoDecoder` opens and reads its input.
public struct DecoderOptions: Sendable {
    /// Seconds to wait for the input to open, and for each read, before giving up.
    public var timeout: Double
    /// Decoder threads (0 lets FFmpeg choose).
    public var threads: Int
    /// Polled while FFmpeg waits for the input (opening, reading): true abandons the wait at once,
    /// as a time-out does (a stream being removed, a service stopping).
    public var cancelled: (@Sendable () -> Bool)?

    /// Creates options; the defaults suit files and live streams alike.
    public init(timeout: Double = 10, threads: Int = 1, cancelled: (@Sendable () -> Bool)? = nil) {
        self.timeout = timeout
        self.threads = threads
        self.cancelled = cancelled
    }
}

/// Facts about an opened video stream.
public struct VideoInfo: Sendable, Equatable {
    /// Width in pixels.
    public var width: Int
    /// Height in pixels.
    public var height: Int
    /// Frames per second as the container states it (0 when unknown).
    public var frameRate: Double
    /// Frames the container announces (nil when it does not say, e.g. live streams).
    public var frameCount: Int?
    /// FFmpeg's name of the codec.
    public var codec: String

    /// Facts as given.
    public init(width: Int, height: Int, frameRate: Double, frameCount: Int?, codec: String) {
        self.width = width
        self.height = height
        self.frameRate = frameRate
        self.frameCount = frameCount
        self.codec = codec
    }
}

/// Reads a file or URL with FFmpeg and yields RGB24 frames in presentation order.
///
/// Blocking: call it from a dedicated thread, never from Swift's cooperative pool.
/// Not thread-safe; one owner at a time.
public final class VideoDecoder {
    /// The file or URL being read.
    public let input: String
    /// Facts about the video stream.
    public let info: VideoInfo
    /// The stream's codec parameters and time base, for remuxing its packets (nil when FFmpeg
    /// could not copy them).
    public let parameters: StreamParameters?
    /// Handed a copy of each compressed packet of the video stream as it is read, before it is
    /// decoded (a clip recorder's ring). Nil: packets are not copied.
    public var onPacket: ((EncodedPacket) -> Void)?

    private var format: UnsafeMutablePointer<AVFormatContext>?
    private var codec: UnsafeMutablePointer<AVCodecContext>?
    private var packet: UnsafeMutablePointer<AVPacket>?
    private var decoded: UnsafeMutablePointer<AVFrame>?
    private var scaler: OpaquePointer?
    /// Where swscale writes: 64-byte aligned rows of a 64-byte multiple. swscale's SIMD converters
    /// need aligned rows; on unaligned ones (any width whose RGB row is not a multiple of 16 bytes,
    /// 854 for one) it falls back to C code that rounds differently from what OpenCV and the FFmpeg
    /// CLI give. Rows are copied out packed.
    private var scratch: UnsafeMutableRawPointer?
    private var scratchBytes = 0
    private let streamIndex: Int32
    private let timeBase: Double
    private let interrupt: InterruptDeadline
    private let timeout: Double
    private var nextIndex = 0
    private var draining = false
    private var finished = false
    private var sawDecodeError: String?
    /// Packets decoded but not shown (before an edit list's start): the container counts them.
    private var hidden = 0

    /// Opens `input` (a path or an `http://`, `udp://`, `rtsp://`... URL) and its best video stream.
    public init(input: String, options: DecoderOptions = DecoderOptions()) throws(VideoError) {
        self.input = input
        self.timeout = options.timeout
        self.interrupt = InterruptDeadline(cancelled: options.cancelled)

        var opened = false
        var fmt: UnsafeMutablePointer<AVFormatContext>? = avformat_alloc_context()
        var cctx: UnsafeMutablePointer<AVCodecContext>?
        defer {
            if !opened {
                avcodec_free_context(&cctx)
                avformat_close_input(&fmt)
            }
        }
        guard let fmtContext = fmt else { throw VideoError(.open, input: input, message: "out of memory") }
        fmtContext.pointee.interrupt_callback = AVIOInterruptCB(
            callback: { opaque in
                guard let opaque else { return 0 }
                return Unmanaged<InterruptDeadline>.fromOpaque(opaque).takeUnretainedValue().expired ? 1 : 0
            },
            opaque: Unmanaged.passUnretained(interrupt).toOpaque()
        )

        if SourcePolicy.scheme(of: input) == nil || SourcePolicy.scheme(of: input) == "file" {
            try Self.checkFile(SourcePolicy.filePath(input), input: input)
        }

        var dict: OpaquePointer?
        defer { av_dict_free(&dict) }
        // Bounded before the conversion: a time-out of 1e13 s must not trap.
        let micros = String(Int(min(max(options.timeout, 0.001), 86_400) * 1_000_000))
        try check(av_dict_set(&dict, "rw_timeout", micros, 0), .open, input: input, "setting the read time-out")
        // Only the protocols this source's own scheme needs: a playlist cannot pivot to file: or concat:.
        let protocols = SourcePolicy.ffmpegProtocols(for: input)
        try check(
            av_dict_set(&dict, "protocol_whitelist", protocols, 0), .open, input: input, "limiting the protocols")
        if input.hasPrefix("rtsp:") {
            try check(av_dict_set(&dict, "rtsp_transport", "tcp", 0), .open, input: input, "asking for RTSP over TCP")
        }

        interrupt.arm(seconds: options.timeout)
        let openStatus = avformat_open_input(&fmt, input, nil, &dict)
        if openStatus < 0 {
            if interrupt.expired {
                throw VideoError(.timeout, input: input, message: "no answer within \(options.timeout) s")
            }
            if openStatus == cffmpeg_averror_invaliddata() {
                throw VideoError(
                    .notVideo, input: input, message: "not a video FFmpeg can read (\(ffmpegMessage(openStatus)))")
            }
            try check(openStatus, .open, input: input, "cannot open")
        }
        interrupt.arm(seconds: options.timeout)
        let probe = avformat_find_stream_info(fmt, nil)
        if probe < 0 {
            if interrupt.expired {
                throw VideoError(.timeout, input: input, message: "no video data within \(options.timeout) s")
            }
            try check(probe, .notVideo, input: input, "cannot read stream info")
        }

        var decoderPtr: UnsafePointer<AVCodec>?
        let best = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, &decoderPtr, 0)
        guard best >= 0, let decoder = decoderPtr, let stream = fmt!.pointee.streams[Int(best)] else {
            throw VideoError(.notVideo, input: input, message: "no decodable video stream")
        }
        cctx = avcodec_alloc_context3(decoder)
        guard let codecContext = cctx else { throw VideoError(.open, input: input, message: "out of memory") }
        try check(
            avcodec_parameters_to_context(codecContext, stream.pointee.codecpar), .notVideo, input: input,
            "reading codec parameters")
        codecContext.pointee.thread_count = Int32(options.threads)
        codecContext.pointee.pkt_timebase = stream.pointee.time_base
        try check(avcodec_open2(codecContext, decoder, nil), .notVideo, input: input, "opening the decoder")
        guard codecContext.pointee.width > 0, codecContext.pointee.height > 0 else {
            throw VideoError(.notVideo, input: input, message: "video stream has no picture size")
        }

        let rate = stream.pointee.avg_frame_rate.num > 0 ? stream.pointee.avg_frame_rate : stream.pointee.r_frame_rate
        let frames = stream.pointee.nb_frames
        self.info = VideoInfo(
            width: Int(codecContext.pointee.width),
            height: Int(codecContext.pointee.height),
            frameRate: rate.den > 0 ? Double(rate.num) / Double(rate.den) : 0,
            frameCount: frames > 0 ? Int(frames) : nil,
            codec: String(cString: decoder.pointee.name)
        )
        self.streamIndex = best
        self.parameters = StreamParameters(copying: stream.pointee.codecpar, timeBase: stream.pointee.time_base)
        self.timeBase = Double(stream.pointee.time_base.num) / Double(max(stream.pointee.time_base.den, 1))
        self.packet = av_packet_alloc()
        self.decoded = av_frame_alloc()
        guard packet != nil, decoded != nil else {
            av_packet_free(&packet)
            av_frame_free(&decoded)
            throw VideoError(.open, input: input, message: "out of memory")
        }
        self.format = fmt
        self.codec = cctx
        opened = true
    }

    /// Refuses a file source that is missing, unreadable, or not a regular file (a FIFO would block
    /// the open for ever; a device or socket is no video file).
    private static func checkFile(_ path: String, input: String) throws(VideoError) {
        var info = stat()
        guard stat(path, &info) == 0 else { throw VideoError(.open, input: input, message: "no such file") }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw VideoError(.open, input: input, message: "not a regular file (a FIFO, device, socket or folder)")
        }
        if access(path, R_OK) != 0 {
            throw VideoError(.open, input: input, message: "file is not readable")
        }
    }

    deinit {
        free(scratch)
        sws_freeContext(scaler)
        av_frame_free(&decoded)
        av_packet_free(&packet)
        avcodec_free_context(&codec)
        avformat_close_input(&format)
    }

    /// The next frame, or nil at the end of the input.
    ///
    /// Throws `.truncated` at the end when fewer frames arrived than the container
    /// announced (after every frame that was there has been returned), `.timeout` when a
    /// live input goes silent, `.decode` for an unreadable input.
    ///
    /// With `picture` false the frame is decoded (later frames may refer to it) but not converted
    /// to RGB: it comes without its picture, saving the conversion and the copy (a third of a
    /// 720p frame's cost) for a frame nothing will look at.
    public func nextFrame(picture: Bool = true) throws(VideoError) -> VideoFrame? {
        guard let codec, let packet, let decoded, let format else { return nil }
        while !finished {
            let received = avcodec_receive_frame(codec, decoded)
            if received == 0 {
                defer { av_frame_unref(decoded) }
                return try convert(decoded, picture: picture)
            }
            if received == cffmpeg_averror_eof() {
                finished = true
                break
            }
            if received != cffmpeg_averror_eagain() {
                // A corrupt picture: note it and go on, as players do.
                sawDecodeError = ffmpegMessage(received)
                continue
            }
            if draining {
                finished = true
                break
            }
            interrupt.arm(seconds: timeout)
            let read = av_read_frame(format, packet)
            if read < 0 {
                if interrupt.expired {
                    throw VideoError(
                        .timeout, input: input, message: "no data for \(timeout) s after frame \(nextIndex)")
                }
                if read != cffmpeg_averror_eof() && format.pointee.pb?.pointee.eof_reached == 0 {
                    try check(read, .decode, input: input, "read failed after frame \(nextIndex)")
                }
                draining = true
                // Entering draining mode; a failure here shows as EOF from avcodec_receive_frame.
                _ = avcodec_send_packet(codec, nil)
                continue
            }
            defer { av_packet_unref(packet) }
            guard packet.pointee.stream_index == streamIndex else { continue }
            if let onPacket { onPacket(EncodedPacket(copying: packet)) }
            if packet.pointee.flags & AV_PKT_FLAG_DISCARD != 0 { hidden += 1 }
            let sent = avcodec_send_packet(codec, packet)
            if sent < 0 && sent != cffmpeg_averror_eagain() {
                sawDecodeError = ffmpegMessage(sent)
            }
        }
        if let expected = info.frameCount, nextIndex + hidden < expected {
            let why = sawDecodeError.map { " (\($0))" } ?? ""
            throw VideoError(
                .truncated, input: input,
                message: "video is cut: ended after \(nextIndex) of \(expected) frames\(why)")
        }
        return nil
    }

    private func convert(_ frame: UnsafeMutablePointer<AVFrame>, picture: Bool) throws(VideoError) -> VideoFrame {
        let width = Int(frame.pointee.width)
        let height = Int(frame.pointee.height)
        guard picture else {
            defer { nextIndex += 1 }
            return VideoFrame(index: nextIndex, pts: pts(of: frame), width: width, height: height)
        }
        scaler = sws_getCachedContext(
            scaler, Int32(width), Int32(height), AVPixelFormat(frame.pointee.format),
            Int32(width), Int32(height), AV_PIX_FMT_RGB24,
            Int32(SWS_BILINEAR), nil, nil, nil)
        guard let scaler else {
            throw VideoError(
                .decode, input: input, message: "cannot convert pixel format \(frame.pointee.format) to RGB")
        }
        let rowBytes = width * 3
        let stride = (rowBytes + 63) & ~63
        if scratchBytes < stride * height {
            free(scratch)
            scratch = nil
            scratchBytes = 0
            guard posix_memalign(&scratch, 64, stride * height) == 0, scratch != nil else {
                throw VideoError(.decode, input: input, message: "out of memory for a \(width)x\(height) frame")
            }
            scratchBytes = stride * height
        }
        let target = scratch!.assumingMemoryBound(to: UInt8.self)
        let rows = withUnsafePointer(to: &frame.pointee.data) { dataTuple in
            withUnsafePointer(to: &frame.pointee.linesize) { strideTuple in
                dataTuple.withMemoryRebound(to: UnsafePointer<UInt8>?.self, capacity: 8) { srcData in
                    strideTuple.withMemoryRebound(to: Int32.self, capacity: 8) { srcStride in
                        var dstData: [UnsafeMutablePointer<UInt8>?] = [target, nil, nil, nil]
                        var dstStride: [Int32] = [Int32(stride), 0, 0, 0]
                        return sws_scale(scaler, srcData, srcStride, 0, Int32(height), &dstData, &dstStride)
                    }
                }
            }
        }
        // The copy writes every byte: no need to zero the buffer first.
        let pixels = [UInt8](unsafeUninitializedCapacity: rowBytes * height) { out, count in
            for y in 0..<height {
                (out.baseAddress! + y * rowBytes).update(from: target + y * stride, count: rowBytes)
            }
            count = rowBytes * height
        }
        try check(rows, .decode, input: input, "converting frame \(nextIndex) to RGB")
        defer { nextIndex += 1 }
        return VideoFrame(index: nextIndex, pts: pts(of: frame), width: width, height: height, pixels: pixels)
    }

    /// The frame's time in seconds: its timestamp, or its place at the nominal rate without one.
    private func pts(of frame: UnsafeMutablePointer<AVFrame>) -> Double {
        let stamp = frame.pointee.best_effort_timestamp
        if stamp != cffmpeg_nopts_value() { return Double(stamp) * timeBase }
        return info.frameRate > 0 ? Double(nextIndex) / info.frameRate : 0
    }
}

/// The deadline FFmpeg's interrupt callback polls; touched only by the decoding thread.
private final class InterruptDeadline {
    private var deadline: Double = .infinity
    private let cancelled: (@Sendable () -> Bool)?

    init(cancelled: (@Sendable () -> Bool)?) { self.cancelled = cancelled }

    func arm(seconds: Double) { deadline = Clock.now + seconds }

    var expired: Bool { Clock.now > deadline || cancelled?() == true }
}
