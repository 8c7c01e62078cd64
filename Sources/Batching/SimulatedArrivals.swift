/// The simulator's streams: frames arriving at each stream's rate (staggered across streams), the
/// stream count changing as the setup says, each stream's inference interval (fixed, or as the
/// controller chooses), and the one pre-processing worker in front of the batcher (FIFO; a full
/// queue in front of it sheds the arriving frame unless the policy is backlog). Generated lazily,
/// up to a time, so that an interval decided at a look applies to the frames after it.
struct Arrivals {
    let setup: SimulationSetup
    /// Frames for the detector: when each arrived, and when it was pre-processed.
    private(set) var ready: [(arrival: Double, ready: Double)] = []
    /// Their arrival times (ascending), for the arrival rate.
    private(set) var times: [Double] = []
    /// Frames the tracker answered.
    private(set) var tracked = 0
    /// Frames shed in front of pre-processing.
    private(set) var shed = 0
    /// Streams now.
    private(set) var streams: Int
    /// Each stream's interval and frames so far (as many as the most streams there will be).
    private(set) var intervals: [Int]
    private var frames: [Int]
    /// Generated up to this time.
    private(set) var time = 0.0
    private var changes: [(time: Double, streams: Int)]
    private var preFree = 0.0
    private var waitingStarts: [Double] = []

    init(setup: SimulationSetup) {
        self.setup = setup
        streams = max(0, setup.streams)
        changes = setup.streamChanges.sorted { $0.time < $1.time }
        let most = max(streams, changes.map(\.streams).max() ?? 0)
        let start =
            setup.autoInterval ? IntervalController.maxInterval(fps: setup.fps) : max(1, setup.inferEvery)
        intervals = Array(repeating: start, count: most)
        frames = Array(repeating: 0, count: most)
    }

    /// Whether every frame of the run has been generated.
    var done: Bool { time >= setup.seconds }

    /// The streams whose intervals the controller chooses, as it sees them (none unless auto).
    var intervalStreams: [IntervalStream] {
        guard setup.autoInterval else { return [] }
        return (0..<streams).map {
            IntervalStream(
                id: "\($0)", interval: intervals[$0], maxInterval: IntervalController.maxInterval(fps: setup.fps),
                fps: setup.fps, stability: setup.stability)
        }
    }

    /// Sets stream `id`'s interval (a decision).
    mutating func set(stream id: String, to n: Int) {
        guard let s = Int(id), intervals.indices.contains(s) else { return }
        intervals[s] = max(1, n)
    }

    /// Generates the frames arriving before `horizon` (at most to the end of the run).
    mutating func generate(until horizon: Double, jitter: (Double) -> Double) {
        let period = 1 / setup.fps
        let perFrame = setup.device.seconds(.preprocess, batch: 1)
        while time < min(horizon, setup.seconds) {
            while let c = changes.first, c.time <= time {
                streams = max(0, c.streams)
                changes.removeFirst()
            }
            for s in 0..<streams {
                let a = time + period * Double(s) / Double(max(streams, 1))
                let k = frames[s]
                frames[s] += 1
                guard IntervalController.infers(frame: k, stream: s, every: intervals[s]) else {
                    tracked += 1
                    continue
                }
                waitingStarts.removeAll { $0 <= a }
                if waitingStarts.count >= setup.queueCapacity && setup.controller.shed != .backlog {
                    shed += 1
                    continue
                }
                times.append(a)
                let start = max(a, preFree)
                preFree = start + jitter(perFrame)
                if start > a && setup.controller.shed != .backlog { waitingStarts.append(start) }
                ready.append((a, preFree))
            }
            time += period
        }
    }
}
