import Vision

/// Whether a version derived from another (a quantised one, say) may serve: its outputs compared
/// with the original's on the same frames, frame by frame. A value with no I/O: feed it each frame's
/// outputs of both, read the figures, ask for the verdict.
///
/// Detectors: the original's detections are the truth. A candidate detection matches an original
/// one of the same class when their IoU is at least `minIoU` (greedy, best pairs first, each used
/// once); F1 of the matches, their mean IoU, and what was missed or added. Classifiers: top-1
/// agreement (the first detection's class, one per frame).
public struct AccuracyGate: Sendable, Equatable {
    /// How the candidate is judged.
    public enum Metric: String, Sendable, Codable {
        /// Detections F1 against the original's (detectors).
        case f1
        /// Share of frames whose top-1 class is the original's (classifiers).
        case top1
    }

    public let metric: Metric
    /// The least F1 (or agreement) a candidate must reach.
    public let threshold: Double
    /// The least IoU of a match.
    public let minIoU: Double

    /// Frames compared.
    public private(set) var frames = 0
    /// Original detections matched by the candidate.
    public private(set) var matched = 0
    /// Original detections the candidate missed.
    public private(set) var missed = 0
    /// Candidate detections the original does not have.
    public private(set) var extra = 0
    /// Frames whose top-1 class agrees (classifiers).
    public private(set) var agreeing = 0
    private var iouSum = 0.0

    public init(metric: Metric, threshold: Double = 0.97, minIoU: Double = 0.7) {
        self.metric = metric
        self.threshold = threshold
        self.minIoU = minIoU
    }

    /// Adds one frame: the original's outputs and the candidate's.
    public mutating func add(original: [Detection], candidate: [Detection]) {
        frames += 1
        switch metric {
        case .top1:
            if original.first?.classId == candidate.first?.classId { agreeing += 1 }
        case .f1:
            var pairs: [(iou: Double, o: Int, c: Int)] = []
            for (o, a) in original.enumerated() {
                for (c, b) in candidate.enumerated() where a.classId == b.classId {
                    let iou = a.iou(b)
                    if iou >= minIoU { pairs.append((iou, o, c)) }
                }
            }
            pairs.sort { $0.iou != $1.iou ? $0.iou > $1.iou : ($0.o, $0.c) < ($1.o, $1.c) }
            var usedO = Set<Int>()
            var usedC = Set<Int>()
            for p in pairs where !usedO.contains(p.o) && !usedC.contains(p.c) {
                usedO.insert(p.o)
                usedC.insert(p.c)
                iouSum += p.iou
            }
            matched += usedO.count
            missed += original.count - usedO.count
            extra += candidate.count - usedC.count
        }
    }

    /// F1 of the matches (1 when neither found anything), or the top-1 agreement.
    public var score: Double {
        switch metric {
        case .top1:
            return frames == 0 ? 0 : Double(agreeing) / Double(frames)
        case .f1:
            let denominator = 2 * matched + missed + extra
            return denominator == 0 ? 1 : Double(2 * matched) / Double(denominator)
        }
    }

    /// Mean IoU of the matched detections (nil for classifiers or with no match).
    public var meanIoU: Double? { metric == .f1 && matched > 0 ? iouSum / Double(matched) : nil }

    /// Whether the candidate may serve: frames were compared and the score reaches the threshold.
    public var passed: Bool { frames > 0 && score >= threshold }

    /// Whether the frames let the gate judge at all: a detector's original must have found
    /// something on them (nothing against nothing vouches for no candidate).
    public var canJudge: Bool { metric == .top1 || matched + missed > 0 }

    /// The figures, as the sidecar keeps them, with the speeds measured beside them; refused when
    /// the gate cannot judge.
    public func figures(originalFPS: Double, candidateFPS: Double) -> ModelSpec.GateFigures {
        ModelSpec.GateFigures(
            metric: metric.rawValue, score: score, threshold: threshold, passed: passed && canJudge, frames: frames,
            meanIoU: meanIoU, matched: metric == .f1 ? matched : nil, missed: metric == .f1 ? missed : nil,
            extra: metric == .f1 ? extra : nil, originalFPS: originalFPS, candidateFPS: candidateFPS)
    }
}
