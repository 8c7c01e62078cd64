internal import CFFmpeg

#if canImport(Glibc)
    import Glibc
#endif

/// The file a clip is kept in: MP4 where the codec fits it (H.264, HEVC, MPEG-4, AV1...), else
/// QuickTime (MJPEG, older MPEG-4 variants such as MS-MPEG4), which FFmpeg and most players read.
public enum ClipContainer: String, Sendable, CaseIterable {
    case mp4
    case mov

    /// Its HTTP content type.
    public var contentType: String { self == .mp4 ? "video/mp4" : "video/quicktime" }

    /// The container for a stream's codec, nil when neither holds it.
    public static func best(for parameters: StreamParameters) -> ClipContainer? {
        let codec = parameters.codecParameters.pointee.codec_id
        return allCases.first { container in
            guard let format = av_guess_format(container.rawValue, nil, nil) else { return false }
            return avformat_query_codec(format, codec, FF_COMPLIANCE_NORMAL) == 1
        }
    }
}

/// Writes compressed packets into a new file without decoding or re-encoding them.
public enum Remuxer {
    /// Writes `packets` (decode order, the first a keyframe) to `path` in `container`, their times
    /// shifted so that the frame shown at `start` (in the stream's time base) is at 0. Frames
    /// before it (from the keyframe that decoding needs) get negative times: the muxer's edit list
    /// has players decode them without showing them, so the clip shows from `start` exactly.
    /// The file appears whole or not at all (written aside, then renamed). Packets without a time,
    /// or whose own decode time does not move on, are left out. Blocking: run it off the cooperative pool.
    public static func write(
        _ packets: [EncodedPacket], parameters: StreamParameters, start: Int64, to path: String,
        container: ClipContainer
    ) throws(VideoError) {
        let part = path + ".part"
        var fmt: UnsafeMutablePointer<AVFormatContext>?
        var packet: UnsafeMutablePointer<AVPacket>? = av_packet_alloc()
        var written = false
        defer {
            av_packet_free(&packet)
            if let fmt {
                if fmt.pointee.pb != nil { avio_closep(&fmt.pointee.pb) }
                avformat_free_context(fmt)
            }
            if !written { unlink(part) }
        }
        try check(
            avformat_alloc_output_context2(&fmt, nil, container.rawValue, part), .encode, input: path,
            "choosing the \(container.rawValue) muxer")
        guard let fmt, let packet, let stream = avformat_new_stream(fmt, nil) else {
            throw VideoError(.encode, input: path, message: "out of memory")
        }
        try check(
            avcodec_parameters_copy(stream.pointee.codecpar, parameters.codecParameters), .encode, input: path,
            "copying the codec parameters")
        // The source container's tag (an AVI's FourCC) may mean nothing here: the muxer picks its own.
        stream.pointee.codecpar.pointee.codec_tag = 0
        let source = AVRational(num: parameters.timeBaseNum, den: parameters.timeBaseDen)
        stream.pointee.time_base = source
        try check(avio_open(&fmt.pointee.pb, part, AVIO_FLAG_WRITE), .encode, input: path, "creating the file")
        var options: OpaquePointer?
        defer { av_dict_free(&options) }
        // The index first, so that a browser plays the clip while it downloads.
        av_dict_set(&options, "movflags", "+faststart", 0)
        try check(avformat_write_header(fmt, &options), .encode, input: path, "writing the header")
        var lastDecode: Int64?
        for item in packets {
            guard let time = item.time else { continue }
            // A decode time the container gave must move on; a missing one the muxer works out.
            if let dts = item.dts {
                if let lastDecode, dts <= lastDecode { continue }
                lastDecode = dts
            }
            try check(av_new_packet(packet, Int32(item.data.count)), .encode, input: path, "allocating a packet")
            item.data.withUnsafeBufferPointer { bytes in
                if let base = bytes.baseAddress { packet.pointee.data.update(from: base, count: bytes.count) }
            }
            packet.pointee.pts = time &- start
            packet.pointee.dts = item.dts.map { $0 &- start } ?? cffmpeg_nopts_value()
            packet.pointee.duration = item.duration
            packet.pointee.flags = item.isKeyframe ? AV_PKT_FLAG_KEY : 0
            packet.pointee.stream_index = stream.pointee.index
            av_packet_rescale_ts(packet, source, stream.pointee.time_base)
            // Takes the packet's data (and leaves it blank), whether it succeeds or not.
            try check(av_interleaved_write_frame(fmt, packet), .encode, input: path, "writing a packet")
        }
        try check(av_write_trailer(fmt), .encode, input: path, "finishing the file")
        try check(avio_closep(&fmt.pointee.pb), .encode, input: path, "closing the file")
        guard rename(part, path) == 0 else {
            throw VideoError(.encode, input: path, message: "cannot move the clip into place (errno \(errno))")
        }
        written = true
    }
}
