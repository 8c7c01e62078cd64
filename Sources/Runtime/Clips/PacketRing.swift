import VideoIO

/// What a clip is made of: packets in decode order from a keyframe, the stream they belong to, and
/// the time (in the stream's time base) of the frame the clip shows first.
struct ClipCut: Sendable {
    var packets: [EncodedPacket]
    var parameters: StreamParameters
    /// The first frame shown, in the stream's time base.
    var start: Int64
    /// Seconds the clip starts later than asked, because the ring no longer held that far back
    /// (0 when it starts where asked).
    var late: Double
}

/// One stream's recent compressed packets: a value, fed in decode order from the stream's reading
/// thread; no I/O, no clock.
///
/// - It always starts at a keyframe: packets before the first keyframe are not kept, and it is
///   trimmed a whole group (keyframe to keyframe) at a time.
/// - It holds at least `window` seconds behind the newest packet: a group goes only once the next
///   keyframe is itself `window` seconds old. So a clip that starts up to `window` seconds back has
///   the keyframe it needs.
/// - It holds at most `maxBytes`: past it the oldest groups go, whatever their age (a clip then
///   starts later than asked, and says so).
/// - A session is one opening of the source (`begin`): packets of another opening, perhaps with
///   other codec parameters, are not mixed in. A decode time that goes back (a source that starts
///   its timestamps again) begins again at the next keyframe.
struct PacketRing {
    let window: Double
    let maxBytes: Int
    private(set) var parameters: StreamParameters?
    /// Seconds to add to the stream's own times to give the pipeline's (which go on across
    /// reopenings); nil until the session's first frame says.
    private(set) var offset: Double?
    private var packets: [EncodedPacket] = []
    private var head = 0
    private(set) var bytes = 0
    /// The latest presentation time seen, in the stream's time base.
    private(set) var newest: Int64?
    /// The latest decode time read (held or not: the stream's clock), in the stream's time base.
    private var newestDecode: Int64?
    /// The latest decode time the container gave itself (not made up from a presentation time).
    private var lastRealDecode: Int64?

    init(window: Double, maxBytes: Int) {
        self.window = max(window, 0)
        self.maxBytes = max(maxBytes, 1)
    }

    /// Packets held.
    var count: Int { packets.count - head }

    /// A new session: what was held goes.
    mutating func begin(_ parameters: StreamParameters?, offset: Double? = nil) {
        self.parameters = parameters
        self.offset = offset
        clear()
    }

    /// The session's offset from the stream's times to the pipeline's.
    mutating func setOffset(_ seconds: Double) { offset = seconds }

    /// Whether `packet` starts the stream's times again (its own decode time goes back): what is
    /// held then belongs to another timeline, and whoever waits on it should be served first.
    func restarts(with packet: EncodedPacket) -> Bool {
        guard let dts = packet.dts, let last = lastRealDecode else { return false }
        return dts < last
    }

    /// Takes the next packet in decode order. One that starts the times again (`restarts`) clears
    /// what is held first; then the ring waits for a keyframe. The stream's clock moves with every
    /// packet that has a time, held or not.
    mutating func append(_ packet: EncodedPacket) {
        guard parameters != nil, let decode = packet.decodeTime, let time = packet.time else { return }
        if restarts(with: packet) { clear() }
        if let dts = packet.dts { lastRealDecode = dts }
        // A presentation time standing in for a missing decode time goes back at B-frames: the
        // clock only moves on.
        newestDecode = max(newestDecode ?? decode, decode)
        newest = max(newest ?? time, time)
        if count == 0 && !packet.isKeyframe { return }
        packets.append(packet)
        bytes += packet.data.count
        trim()
    }

    /// The pipeline's time (seconds) of the newest packet, when the session's offset is known.
    var newestTime: Double? {
        guard let newest, let offset, let parameters else { return nil }
        return parameters.seconds(newest) + offset
    }

    /// Whether every packet a cut to pipeline time `to` takes has been read: one decoded after it
    /// has (frames are decoded no later than shown, so all shown by `to` came before it).
    func hasRead(past to: Double) -> Bool {
        guard let newestDecode, let offset, let parameters else { return false }
        return parameters.seconds(newestDecode) + offset > to
    }

    /// The packets to show pipeline times `from`...`to` (seconds): from the keyframe before the
    /// frame shown at `from` (the latest at or before it) to the last packet decoded by `to`. Nil
    /// when nothing of it is held.
    func cut(from: Double, to: Double) -> ClipCut? {
        guard let parameters, let offset, count > 0 else { return nil }
        let held = packets[head...]
        // The ticks at or before each time (a frame at exactly `from` counts as at or before it).
        let scale = Double(parameters.timeBaseDen) / Double(parameters.timeBaseNum)
        let (a, b) = (((from - offset) * scale + 1e-6).rounded(.down), ((to - offset) * scale + 1e-6).rounded(.down))
        // Times past what a packet may carry (EncodedPacket keeps |t| under 2^53) cut nothing.
        guard abs(a) < 0x1p53, abs(b) < 0x1p53 else { return nil }
        let (first, last) = (Int64(a), Int64(b))
        let shownAtOrBefore = held.compactMap(\.time).filter { $0 <= first }.max()
        guard let earliest = held.compactMap(\.time).min(), earliest <= last else { return nil }
        let start = shownAtOrBefore ?? earliest
        let key = held.lastIndex { $0.isKeyframe && ($0.time ?? .max) <= start } ?? head
        let chosen = held[key...].prefix { ($0.decodeTime ?? .max) <= last || $0.time == start }
        guard !chosen.isEmpty else { return nil }
        let late = shownAtOrBefore == nil ? max(0, parameters.seconds(earliest) + offset - from) : 0
        return ClipCut(packets: Array(chosen), parameters: parameters, start: start, late: late)
    }

    private mutating func clear() {
        packets.removeAll(keepingCapacity: false)
        head = 0
        bytes = 0
        newest = nil
        newestDecode = nil
        lastRealDecode = nil
    }

    /// Drops whole groups from the front while the next group still covers the window, or while
    /// over the byte bound.
    private mutating func trim() {
        guard let parameters, let newest else { return }
        let horizon = newest &- parameters.ticks(window)
        while count > 0 {
            guard let next = packets[(head + 1)...].firstIndex(where: \.isKeyframe) else {
                // One group only: over the bound, it all goes (the next keyframe starts again).
                if bytes > maxBytes { clear() }
                break
            }
            let nextTime = packets[next].time ?? .max
            guard bytes > maxBytes || nextTime <= horizon else { break }
            // Their bytes go now; the list's slots when half of it is dropped ones.
            for i in head..<next {
                bytes -= packets[i].data.count
                packets[i].data = []
            }
            head = next
        }
        if head > 64 && head * 2 > packets.count {
            packets.removeFirst(head)
            head = 0
        }
    }
}
