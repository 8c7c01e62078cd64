import Foundation

/// Why the batch size manager decided what it did, with the figures behind it.
///
/// `description` is the sentence that is logged and serialised as a decision's `reason`; the cases
/// carry what it quotes, so that programs (and tests) compare values, not words. A size is `size`
/// where the decision was taken, `to` where it goes, and `from` the size a trial came from. Rates are
/// frames per second, times seconds.
public enum DecisionReason: Sendable, Equatable, Codable, CustomStringConvertible {
    // A size on trial, ended: back to the size it left, and `size` is remembered slower.

    /// Tried under overload, `size` put out `rate` in its first `batches` batches, plainly less than
    /// the `fromRate` that `from`, the size it left, delivered.
    case trialPutOutLess(size: Int, batches: Int, rate: Double, from: Int, fromRate: Double)
    /// Tried while keeping up, `size`'s stage costs give `rate`, plainly less than `from`'s `fromRate`.
    case trialCostsLess(size: Int, batches: Int, rate: Double, from: Int, fromRate: Double)
    /// Tried while keeping up, `size` fell behind the arrivals (`queues` filling) where `from` kept up.
    case trialFellBehind(size: Int, arrivalRate: Double, queues: Queues, from: Int)

    // Overload: falling behind, as measured.

    /// Back to `to`, which delivered `rate`, from `size`, which delivered only `sizeRate`; frames are
    /// shed by `shed`.
    case overloadBack(to: Int, rate: Double, size: Int, sizeRate: Double, arrivalRate: Double, shed: ShedPolicy)
    /// `size` delivers `rate` of the arrivals: its neighbour `probing` is tried.
    case overloadProbe(size: Int, rate: Double, arrivalRate: Double, probing: Int)
    /// Falling behind at `size` (`queues` filling): frames are shed by `shed`.
    case overloadShed(size: Int, arrivalRate: Double, queues: Queues, shed: ShedPolicy, prediction: Prediction?)
    /// `requests` in flight gave `rate`, no more than `to` gave (`toRate`): back to `to`.
    case requestsBack(requests: Int, rate: Double, to: Int, toRate: Double)
    /// Overloaded at `size`, where `requests` in flight give `rate`: `probing` in flight are tried.
    case requestsProbe(size: Int, requests: Int, rate: Double, probing: Int)
    /// The load fell: `size` keeps up again, and nothing is shed.
    case loadFell(size: Int)

    // Keeping up: moves on the stage costs, with the prediction at the size chosen.

    /// The p99 latency passed the `slo` at `size`: to `to`, a size measured to keep up.
    case sloMissed(size: Int, slo: Double, to: Int, prediction: Prediction?)
    /// `size` no longer fits (`violation`): to `to`, a size measured to keep up.
    case noLongerFits(size: Int, violation: Violation, to: Int, prediction: Prediction?)
    /// `to` gives the throughput of `size` (within a tie), and a smaller batch waits less.
    case smallerTie(to: Int, size: Int, prediction: Prediction?)
    /// `to` has the highest throughput whose predicted latency stays within the `slo` (the slo policy).
    case highestWithinSLO(to: Int, slo: Double, prediction: Prediction?)
    /// `to` has the highest throughput that keeps up (the realtime policy).
    case highestKeepingUp(to: Int, prediction: Prediction?)
    /// Light load (`arrivalRate`, at most half of what `to` gives): down from `size` to `to`, the
    /// smallest size measured with that room: a smaller batch waits less.
    case lightLoad(to: Int, size: Int, arrivalRate: Double, prediction: Prediction?)
    /// `to`, the next size up, was never measured, and `size` keeps up with room to spare: it is tried.
    case probeUp(to: Int, size: Int)
    /// `to`, the next size down, was never measured: it is tried, since a smaller batch waits less.
    case probeDown(to: Int)

    // The aimd policy.

    /// The p99 latency `p99` is over the `slo`: multiplicative decrease.
    case aimdDecrease(p99: Double, slo: Double)
    /// The p99 latency `p99` is within the SLO: additive increase.
    case aimdIncrease(p99: Double)

    // The inference intervals of the streams that let the manager choose them (`infer_every: auto`).

    /// Falling behind (`queues` filling, `rate` delivered of `arrivalRate`): the detector runs on
    /// every `to`-th frame of `stream` instead of every `from`-th; its tracker answers the others.
    /// `stability`: how steady its tracks were (steady streams are lengthened first).
    case intervalLonger(
        stream: String, from: Int, to: Int, arrivalRate: Double, rate: Double?, queues: Queues, stability: Double)
    /// Keeping up: `stream`'s interval back from `from` to `to`, which sends `after` frames/s to the
    /// detector, within the room `capacity` leaves: what was delivered when it last fell behind (at
    /// this batch size, lately), else what the batch size's stage costs promise; nil: neither is
    /// known, so the step is tried, and undone if it falls behind.
    case intervalShorter(
        stream: String, from: Int, to: Int, arrivalRate: Double, after: Double, capacity: Double?, stability: Double)

    // The pipeline around the controller (its manager says these).

    /// Stream `stream` joined the batcher: `streams` feed it now.
    case streamJoined(stream: String, streams: Int)
    /// Stream `stream` left the batcher: `streams` feed it now.
    case streamLeft(stream: String, streams: Int)
    /// A new model version (`tag`) serves: its stage costs are measured afresh.
    case modelChanged(tag: String)
    /// A reason known only by its words: read from a file written before reasons were typed.
    case text(String)

    /// Frames waiting in the pipeline's queues, and the room they have when known: `12/40`.
    public struct Queues: Sendable, Equatable, Codable, CustomStringConvertible {
        /// Frames waiting.
        public var depth: Int
        /// How many the queues hold at most; nil when unbounded.
        public var capacity: Int?

        /// Creates a fill.
        public init(depth: Int, capacity: Int? = nil) {
            self.depth = depth
            self.capacity = capacity
        }

        /// `12/40`, or `12` without a capacity.
        public var description: String { "\(depth)" + (capacity.map { "/\($0)" } ?? "") }
    }

    /// What the stage costs predict at the size chosen: its bottleneck, the deadline it must keep
    /// (with the margin) and the throughput it gives.
    public struct Prediction: Sendable, Equatable, Codable, CustomStringConvertible {
        /// The slowest stage; several when they are within 5% of each other (noise decides between them).
        public var bottleneck: [Stage]
        /// Seconds per batch of the bottleneck (divided by how many of it run at once).
        public var seconds: Double
        /// Seconds a batch may take to keep up, with the margin: `margin * B / arrival rate`.
        public var deadline: Double
        /// Frames per second the bottleneck gives at that size.
        public var rate: Double

        /// Creates a prediction.
        public init(bottleneck: [Stage], seconds: Double, deadline: Double, rate: Double) {
            self.bottleneck = bottleneck
            self.seconds = seconds
            self.deadline = deadline
            self.rate = rate
        }

        /// `(bottleneck infer 0.1070 s per batch, deadline 0.1133 s, 74.8 frames/s)`.
        public var description: String {
            String(
                format: "(bottleneck %@ %.4f s per batch, deadline %.4f s, %.1f frames/s)",
                bottleneck.map(\.rawValue).joined(separator: " and "), seconds, deadline, rate)
        }

        enum CodingKeys: String, CodingKey {
            case bottleneck
            case seconds = "bottleneck_s"
            case deadline = "deadline_s"
            case rate = "predicted_fps"
        }
    }

    /// Why the size running no longer fits.
    public enum Violation: String, Sendable, Equatable, Codable, CustomStringConvertible {
        /// Its bottleneck misses the deadline.
        case keepUp = "keep-up"
        /// Its memory would pass the limit.
        case memory
        /// Its predicted latency is over the SLO.
        case latency

        /// The words a reason uses.
        public var description: String {
            switch self {
            case .keepUp: "does not keep up"
            case .memory: "memory"
            case .latency: "latency over the SLO"
            }
        }
    }

    /// The sentence: a decision's `reason`.
    public var description: String {
        switch self {
        case let .trialPutOutLess(size, batches, rate, from, fromRate):
            "B=\(size) ended after \(batches) batches: it put out \(fps(rate)) frames/s, plainly less "
                + "than the \(fps(fromRate)) B=\(from) delivered: back to B=\(from)"
        case let .trialCostsLess(size, batches, rate, from, fromRate):
            "B=\(size) ended after \(batches) batches: its stage costs give \(fps(rate)) frames/s, "
                + "plainly less than B=\(from)'s \(fps(fromRate)): back to B=\(from)"
        case let .trialFellBehind(size, arrivalRate, queues, from):
            "B=\(size) fell behind at \(fps(arrivalRate)) frames/s (queues \(queues)); "
                + "B=\(from) kept up: back to B=\(from)"
        case let .overloadBack(to, rate, size, sizeRate, arrivalRate, shed):
            "overload: B=\(to) delivered \(fps(rate)) frames/s, B=\(size) only \(fps(sizeRate)), "
                + "of \(fps(arrivalRate)) arriving: back to B=\(to), shedding by \(shed.rawValue)"
        case let .overloadProbe(size, rate, arrivalRate, probing):
            "overload: B=\(size) delivers \(fps(rate)) frames/s of \(fps(arrivalRate)) arriving; "
                + "probing B=\(probing)"
        case let .overloadShed(size, arrivalRate, queues, shed, prediction):
            "overload: falling behind at B=\(size) with \(fps(arrivalRate)) frames/s arriving "
                + "(queues \(queues)); shedding by \(shed.rawValue)" + suffix(prediction)
        case let .requestsBack(requests, rate, to, toRate):
            "\(requests) requests in flight gave \(fps(rate)) frames/s, no more than \(to)'s "
                + "\(fps(toRate)): back to \(to)"
        case let .requestsProbe(size, requests, rate, probing):
            "overload at B=\(size): probing \(probing) requests in flight (\(requests) give "
                + "\(fps(rate)) frames/s)"
        case let .loadFell(size):
            "load fell: B=\(size) keeps up again"
        case let .sloMissed(size, slo, to, prediction):
            "p99 over the \(ms(slo)) SLO at B=\(size): B=\(to)" + suffix(prediction)
        case let .noLongerFits(size, violation, to, prediction):
            "B=\(size) no longer fits (\(violation)): B=\(to)" + suffix(prediction)
        case let .smallerTie(to, size, prediction):
            "B=\(to): same throughput as B=\(size), lower latency" + suffix(prediction)
        case let .highestWithinSLO(to, slo, prediction):
            "B=\(to): highest throughput within the \(ms(slo)) p99 SLO" + suffix(prediction)
        case let .highestKeepingUp(to, prediction):
            "B=\(to): highest throughput that keeps up" + suffix(prediction)
        case let .lightLoad(to, size, arrivalRate, prediction):
            "light load (\(fps(arrivalRate)) frames/s): B=\(to) from B=\(size), the smallest with room; "
                + "a smaller batch waits less" + suffix(prediction)
        case let .probeUp(to, size):
            "probing B=\(to): never measured, and B=\(size) keeps up"
        case let .probeDown(to):
            "probing B=\(to): never measured; a smaller batch waits less"
        case let .aimdDecrease(p99, slo):
            "p99 \(ms(p99)) over the \(ms(slo)) SLO: multiplicative decrease"
        case let .aimdIncrease(p99):
            "p99 \(ms(p99)) within the SLO: additive increase"
        case let .intervalLonger(stream, from, to, arrivalRate, rate, queues, stability):
            "stream \(stream): detector \(every(to)), was \(every(from)): falling behind with "
                + "\(fps(arrivalRate)) frames/s arriving" + (rate.map { ", \(fps($0)) delivered" } ?? "")
                + " (queues \(queues)); tracks steady \(String(format: "%.2f", stability)), the tracker answers the rest"
        case let .intervalShorter(stream, from, to, arrivalRate, after, capacity, _):
            "stream \(stream): detector \(every(to)), was \(every(from)): keeping up at "
                + "\(fps(arrivalRate)) frames/s, \(fps(after)) after it; "
                + (capacity.map { "room within the \(fps($0)) frames/s it can take" }
                    ?? "no capacity measured lately: tried, undone if it falls behind")
        case let .streamJoined(stream, streams):
            "stream \(stream) joined: \(streams) streams"
        case let .streamLeft(stream, streams):
            "stream \(stream) left: \(streams) streams"
        case let .modelChanged(tag):
            "model changed to \(tag): stage costs measured again"
        case let .text(words):
            words
        }
    }

    /// The prediction at the size chosen, for the reasons that quote one.
    public var prediction: Prediction? {
        switch self {
        case .overloadShed(_, _, _, _, let p), .sloMissed(_, _, _, let p), .noLongerFits(_, _, _, let p),
            .smallerTie(_, _, let p), .highestWithinSLO(_, _, let p), .highestKeepingUp(_, let p),
            .lightLoad(_, _, _, let p):
            p
        default:
            nil
        }
    }
}

/// ` (bottleneck ...)` after a reason, or nothing.
private func suffix(_ prediction: DecisionReason.Prediction?) -> String {
    prediction.map { " \($0)" } ?? ""
}

/// `every frame`, `every 3 frames`: an inference interval as reasons quote it.
private func every(_ n: Int) -> String { n == 1 ? "every frame" : "every \(n) frames" }

/// `74.8`: frames per second as reasons quote them.
private func fps(_ v: Double) -> String { String(format: "%.1f", v) }

/// `500 ms`: seconds as reasons quote them.
private func ms(_ s: Double) -> String { String(format: "%.0f ms", s * 1000) }
