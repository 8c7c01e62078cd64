internal import CFFmpeg

/// One compressed packet of a video stream, as the demuxer read it (decode order), its bytes
/// copied out of FFmpeg: what a clip is remuxed from, without re-encoding.
public struct EncodedPacket: Sendable {
    /// The compressed bytes.
    public var data: [UInt8]
    /// Presentation time in the stream's time base (nil when the container gives none).
    public var pts: Int64?
    /// Decode time in the stream's time base (nil when the container gives none).
    public var dts: Int64?
    /// Duration in the stream's time base (0 when unknown).
    public var duration: Int64
    /// Whether decoding can start here.
    public var isKeyframe: Bool

    /// A packet as given.
    public init(data: [UInt8], pts: Int64?, dts: Int64?, duration: Int64 = 0, isKeyframe: Bool) {
        self.data = data
        self.pts = pts
        self.dts = dts
        self.duration = duration
        self.isKeyframe = isKeyframe
    }

    /// The time it is shown at, or decoded at when the container gives no presentation time.
    public var time: Int64? { pts ?? dts }
    /// The time it is decoded at, or shown at when the container gives no decode time.
    public var decodeTime: Int64? { dts ?? pts }

    init(copying packet: UnsafePointer<AVPacket>) {
        let p = packet.pointee
        let count = Int(max(p.size, 0))
        data = count > 0 && p.data != nil ? Array(UnsafeBufferPointer(start: p.data, count: count)) : []
        // A time past 2^53 ticks is no time (and could overflow the arithmetic on it).
        let sane = { (t: Int64) -> Int64? in t == cffmpeg_nopts_value() || t.magnitude >= 1 << 53 ? nil : t }
        pts = sane(p.pts)
        dts = sane(p.dts)
        duration = max(p.duration, 0)
        isKeyframe = p.flags & AV_PKT_FLAG_KEY != 0
    }
}

/// What a muxer needs to write a stream's packets again: its codec parameters (an owned copy) and
/// its time base. Immutable once made; freed by its owner's deinit.
public final class StreamParameters: @unchecked Sendable {
    /// FFmpeg's name of the codec.
    public let codec: String
    /// Picture width and height.
    public let width: Int
    public let height: Int
    /// The time base of the stream's timestamps, as a fraction of a second.
    public let timeBaseNum: Int32
    public let timeBaseDen: Int32
    // Written once in init, only read after: safe to share across threads.
    let codecParameters: UnsafeMutablePointer<AVCodecParameters>

    init?(copying source: UnsafePointer<AVCodecParameters>, timeBase: AVRational) {
        guard let copy = avcodec_parameters_alloc() else { return nil }
        guard avcodec_parameters_copy(copy, source) >= 0, timeBase.num > 0, timeBase.den > 0 else {
            var doomed: UnsafeMutablePointer<AVCodecParameters>? = copy
            avcodec_parameters_free(&doomed)
            return nil
        }
        codecParameters = copy
        codec = String(cString: avcodec_get_name(copy.pointee.codec_id))
        width = Int(copy.pointee.width)
        height = Int(copy.pointee.height)
        timeBaseNum = timeBase.num
        timeBaseDen = timeBase.den
    }

    deinit {
        var doomed: UnsafeMutablePointer<AVCodecParameters>? = codecParameters
        avcodec_parameters_free(&doomed)
    }

    /// Seconds of `ticks` of this stream's time base.
    public func seconds(_ ticks: Int64) -> Double { Double(ticks) * Double(timeBaseNum) / Double(timeBaseDen) }

    /// Ticks of this stream's time base nearest to `seconds`.
    public func ticks(_ seconds: Double) -> Int64 {
        Int64((seconds * Double(timeBaseDen) / Double(timeBaseNum)).rounded())
    }
}
