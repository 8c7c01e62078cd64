/// A model version rolled out across the nodes that serve the model: judged in shadow on a canary's
/// own frames, served on the canary and watched, then activated wave by wave. Kept, with every
/// step, in the desired state. A value: the fleet's rounds move it (`FleetService+Rollouts`).
public struct Rollout: Sendable, Codable, Equatable {
    public enum Phase: String, Sendable, Codable {
        /// The canary judges the version beside the serving one (`shadow`).
        case shadowing
        /// The canary serves it; its figures are watched for `observe_s`.
        case observing
        /// Wave `wave` is being activated.
        case waves
        case done
        /// Halted by a gate or a failure (the canary rolled back when it had switched).
        case failed
        /// Halted by hand (what had switched rolled back).
        case aborted

        public var finished: Bool { self == .done || self == .failed || self == .aborted }
    }

    /// One thing that happened, with its figures.
    public struct Step: Sendable, Codable, Equatable {
        public var time: Double
        public var node: String?
        public var text: String
    }

    /// What a step is judged by.
    public struct Gate: Sendable, Codable, Equatable {
        /// Frames the canary compares in shadow.
        public var frames = 50
        public var everyMs = 500
        /// The least shadow agreement (F1 of detections, or top-1) for the canary to switch.
        public var minAgreement = 0.95
        /// Seconds the canary is watched serving it (15 at least: its lag p99 is judged over the last
        /// 10 s, after the switch's own moment).
        public var observeSeconds = 30.0
        /// How much worse the canary's lag p99 may get while watched (`lag_margin`, 0.5: 50%), and
        /// how many more frames it may shed a second than before (`shed_margin_fps`).
        public var lagMargin = 0.5
        public var shedMargin = 0.5

        enum CodingKeys: String, CodingKey {
            case frames
            case everyMs = "every_ms"
            case minAgreement = "min_agreement"
            case observeSeconds = "observe_s"
            case lagMargin = "lag_margin"
            case shedMargin = "shed_margin_fps"
        }
    }

    /// A node's figures at a moment: what the gates compare.
    public struct Figures: Sendable, Codable, Equatable {
        /// Frames shed in all (the node's streams' `dropped`, summed).
        public var shed: Int
        /// The worst stream's lag p99 over the last 10 s, milliseconds.
        public var lagP99: Double
        public var time: Double
    }

    public var id: String
    public var model: String
    public var version: Int
    public var canary: String
    /// The other nodes, in waves.
    public var waves: [[String]]
    public var gate: Gate
    public var phase: Phase
    /// The wave being activated (with `waves`).
    public var wave = 0
    /// Each node's version before (what a rollback returns to).
    public var before: [String: Int]
    /// Nodes switched so far.
    public var switched: [String] = []
    /// The canary's figures when its shadow run began, and when it switched: the shedding rate
    /// between them is what "before" means to the observation gate.
    public var shadowBaseline: Figures?
    public var baseline: Figures?
    /// Whether the canary's shadow run was started.
    public var shadowStarted = false
    /// When the canary switched.
    public var observingSince: Double?
    public var reason: String?
    public var steps: [Step] = []
    public var created: Double

    /// At most this many steps are kept (the oldest go).
    public static let maxSteps = 200

    public mutating func step(_ text: String, node: String? = nil, at time: Double) {
        steps.append(Step(time: time, node: node, text: text))
        if steps.count > Self.maxSteps { steps.removeFirst(steps.count - Self.maxSteps) }
    }
}

/// The rollout's gates as values: no I/O.
public enum RolloutGates {
    /// Whether the shadow figures let the canary switch: nil while the run goes on, else the
    /// verdict with its reason.
    public static func shadow(state: String, agreement: Double?, frames: Int, reason: String?, gate: Rollout.Gate)
        -> (pass: Bool, why: String)?
    {
        switch state {
        case "loading", "running": return nil
        case "done":
            guard let agreement else {
                return (false, "shadow: nothing to compare in \(frames) frames (no detections by either version)")
            }
            let figure = (agreement * 1000).rounded() / 1000
            return agreement >= gate.minAgreement
                ? (true, "shadow: agreement \(figure) over \(frames) frames (>= \(gate.minAgreement))")
                : (false, "shadow: agreement \(figure) over \(frames) frames (< \(gate.minAgreement))")
        default:
            return (false, "shadow \(state): \(reason ?? "no reason given")")
        }
    }

    /// Whether the canary, watched from `baseline` (before) to `now` (serving the version), kept
    /// up: its lag p99 not worse than before by more than the margin (with 50 ms of grace), and
    /// frames shed a second not more than before by more than the margin. `before` is the shedding
    /// rate before the switch (frames a second).
    public static func observation(
        baseline: Rollout.Figures, now: Rollout.Figures, shedBefore: Double, gate: Rollout.Gate
    ) -> (pass: Bool, why: String) {
        let seconds = max(1, now.time - baseline.time)
        let shedRate = Double(max(0, now.shed - baseline.shed)) / seconds
        let lagLimit = baseline.lagP99 * (1 + gate.lagMargin) + 50
        let lag = (now.lagP99 * 10).rounded() / 10
        if now.lagP99 > lagLimit {
            return (false, "lag p99 \(lag) ms, was \(baseline.lagP99) ms (limit \(lagLimit.rounded()) ms)")
        }
        if shedRate > shedBefore + gate.shedMargin {
            let r = (shedRate * 100).rounded() / 100
            return (false, "shed \(r) frames/s while serving it, \(shedBefore) before")
        }
        return (true, "kept up: lag p99 \(lag) ms (was \(baseline.lagP99)), shed \(now.shed - baseline.shed) frames")
    }

    /// The nodes after the canary in waves of `size`, by name.
    public static func waves(_ nodes: [String], size: Int) -> [[String]] {
        let sorted = nodes.sorted()
        let n = max(1, size)
        return stride(from: 0, to: sorted.count, by: n).map { Array(sorted[$0..<min($0 + n, sorted.count)]) }
    }
}
