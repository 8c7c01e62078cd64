extension DecisionReason {
    /// What kind of reason, without its figures: a decision's `why.kind` in JSON.
    public enum Kind: String, Sendable, Codable, CaseIterable {
        /// `trialPutOutLess`.
        case trialPutOutLess = "trial-put-out-less"
        /// `trialCostsLess`.
        case trialCostsLess = "trial-costs-less"
        /// `trialFellBehind`.
        case trialFellBehind = "trial-fell-behind"
        /// `overloadBack`.
        case overloadBack = "overload-back"
        /// `overloadProbe`.
        case overloadProbe = "overload-probe"
        /// `overloadShed`.
        case overloadShed = "overload-shed"
        /// `requestsBack`.
        case requestsBack = "requests-back"
        /// `requestsProbe`.
        case requestsProbe = "requests-probe"
        /// `loadFell`.
        case loadFell = "load-fell"
        /// `sloMissed`.
        case sloMissed = "slo-missed"
        /// `noLongerFits`.
        case noLongerFits = "no-longer-fits"
        /// `smallerTie`.
        case smallerTie = "smaller-tie"
        /// `highestWithinSLO`.
        case highestWithinSLO = "highest-within-slo"
        /// `highestKeepingUp`.
        case highestKeepingUp = "highest-keeping-up"
        /// `lightLoad`.
        case lightLoad = "light-load"
        /// `probeUp`.
        case probeUp = "probe-up"
        /// `probeDown`.
        case probeDown = "probe-down"
        /// `aimdDecrease`.
        case aimdDecrease = "aimd-decrease"
        /// `aimdIncrease`.
        case aimdIncrease = "aimd-increase"
        /// `intervalLonger`.
        case intervalLonger = "interval-longer"
        /// `intervalShorter`.
        case intervalShorter = "interval-shorter"
        /// `streamJoined`.
        case streamJoined = "stream-joined"
        /// `streamLeft`.
        case streamLeft = "stream-left"
        /// `modelChanged`.
        case modelChanged = "model-changed"
        /// `text`.
        case text
    }

    /// The kind of this reason.
    public var kind: Kind {
        switch self {
        case .trialPutOutLess: .trialPutOutLess
        case .trialCostsLess: .trialCostsLess
        case .trialFellBehind: .trialFellBehind
        case .overloadBack: .overloadBack
        case .overloadProbe: .overloadProbe
        case .overloadShed: .overloadShed
        case .requestsBack: .requestsBack
        case .requestsProbe: .requestsProbe
        case .loadFell: .loadFell
        case .sloMissed: .sloMissed
        case .noLongerFits: .noLongerFits
        case .smallerTie: .smallerTie
        case .highestWithinSLO: .highestWithinSLO
        case .highestKeepingUp: .highestKeepingUp
        case .lightLoad: .lightLoad
        case .probeUp: .probeUp
        case .probeDown: .probeDown
        case .aimdDecrease: .aimdDecrease
        case .aimdIncrease: .aimdIncrease
        case .intervalLonger: .intervalLonger
        case .intervalShorter: .intervalShorter
        case .streamJoined: .streamJoined
        case .streamLeft: .streamLeft
        case .modelChanged: .modelChanged
        case .text: .text
        }
    }
}

// In JSON, one flat object: `kind` and the figures, named as in a decision (`{"kind": "probe-up", "to": 2,
// "size": 1}`); a prediction is nested as `prediction`, the queues' fill as `queues`.
extension DecisionReason {
    enum CodingKeys: String, CodingKey {
        case kind, size, batches, from, to, queues, shed, requests, probing, violation, prediction, stream, streams
        case tag, text, stability
        case after = "after_fps"
        case capacity = "capacity_fps"
        case rate = "fps"
        case fromRate = "from_fps"
        case sizeRate = "size_fps"
        case toRate = "to_fps"
        case arrivalRate = "arrival_fps"
        case slo = "slo_s"
        case p99 = "p99_s"
    }

    /// Reads a reason written by `encode(to:)`.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func int(_ key: CodingKeys) throws -> Int { try c.decode(Int.self, forKey: key) }
        func double(_ key: CodingKeys) throws -> Double { try c.decode(Double.self, forKey: key) }
        func string(_ key: CodingKeys) throws -> String { try c.decode(String.self, forKey: key) }
        func queues() throws -> Queues { try c.decode(Queues.self, forKey: .queues) }
        func shed() throws -> ShedPolicy { try c.decode(ShedPolicy.self, forKey: .shed) }
        func prediction() throws -> Prediction? { try c.decodeIfPresent(Prediction.self, forKey: .prediction) }
        switch try c.decode(Kind.self, forKey: .kind) {
        case .trialPutOutLess:
            self = .trialPutOutLess(
                size: try int(.size), batches: try int(.batches), rate: try double(.rate), from: try int(.from),
                fromRate: try double(.fromRate))
        case .trialCostsLess:
            self = .trialCostsLess(
                size: try int(.size), batches: try int(.batches), rate: try double(.rate), from: try int(.from),
                fromRate: try double(.fromRate))
        case .trialFellBehind:
            self = .trialFellBehind(
                size: try int(.size), arrivalRate: try double(.arrivalRate), queues: try queues(), from: try int(.from))
        case .overloadBack:
            self = .overloadBack(
                to: try int(.to), rate: try double(.rate), size: try int(.size), sizeRate: try double(.sizeRate),
                arrivalRate: try double(.arrivalRate), shed: try shed())
        case .overloadProbe:
            self = .overloadProbe(
                size: try int(.size), rate: try double(.rate), arrivalRate: try double(.arrivalRate),
                probing: try int(.probing))
        case .overloadShed:
            self = .overloadShed(
                size: try int(.size), arrivalRate: try double(.arrivalRate), queues: try queues(), shed: try shed(),
                prediction: try prediction())
        case .requestsBack:
            self = .requestsBack(
                requests: try int(.requests), rate: try double(.rate), to: try int(.to), toRate: try double(.toRate))
        case .requestsProbe:
            self = .requestsProbe(
                size: try int(.size), requests: try int(.requests), rate: try double(.rate), probing: try int(.probing))
        case .loadFell:
            self = .loadFell(size: try int(.size))
        case .sloMissed:
            self = .sloMissed(
                size: try int(.size), slo: try double(.slo), to: try int(.to), prediction: try prediction())
        case .noLongerFits:
            self = .noLongerFits(
                size: try int(.size), violation: try c.decode(Violation.self, forKey: .violation), to: try int(.to),
                prediction: try prediction())
        case .smallerTie:
            self = .smallerTie(to: try int(.to), size: try int(.size), prediction: try prediction())
        case .highestWithinSLO:
            self = .highestWithinSLO(to: try int(.to), slo: try double(.slo), prediction: try prediction())
        case .highestKeepingUp:
            self = .highestKeepingUp(to: try int(.to), prediction: try prediction())
        case .lightLoad:
            self = .lightLoad(
                to: try int(.to), size: try int(.size), arrivalRate: try double(.arrivalRate),
                prediction: try prediction())
        case .probeUp:
            self = .probeUp(to: try int(.to), size: try int(.size))
        case .probeDown:
            self = .probeDown(to: try int(.to))
        case .aimdDecrease:
            self = .aimdDecrease(p99: try double(.p99), slo: try double(.slo))
        case .aimdIncrease:
            self = .aimdIncrease(p99: try double(.p99))
        case .intervalLonger:
            self = .intervalLonger(
                stream: try string(.stream), from: try int(.from), to: try int(.to),
                arrivalRate: try double(.arrivalRate), rate: try c.decodeIfPresent(Double.self, forKey: .rate),
                queues: try queues(), stability: try double(.stability))
        case .intervalShorter:
            self = .intervalShorter(
                stream: try string(.stream), from: try int(.from), to: try int(.to),
                arrivalRate: try double(.arrivalRate), after: try double(.after),
                capacity: try c.decodeIfPresent(Double.self, forKey: .capacity), stability: try double(.stability))
        case .streamJoined:
            self = .streamJoined(stream: try string(.stream), streams: try int(.streams))
        case .streamLeft:
            self = .streamLeft(stream: try string(.stream), streams: try int(.streams))
        case .modelChanged:
            self = .modelChanged(tag: try string(.tag))
        case .text:
            self = .text(try string(.text))
        }
    }

    /// Writes `kind` and the figures.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(kind, forKey: .kind)
        switch self {
        case let .trialPutOutLess(size, batches, rate, from, fromRate),
            let .trialCostsLess(size, batches, rate, from, fromRate):
            try c.encode(size, forKey: .size)
            try c.encode(batches, forKey: .batches)
            try c.encode(rate, forKey: .rate)
            try c.encode(from, forKey: .from)
            try c.encode(fromRate, forKey: .fromRate)
        case let .trialFellBehind(size, arrivalRate, queues, from):
            try c.encode(size, forKey: .size)
            try c.encode(arrivalRate, forKey: .arrivalRate)
            try c.encode(queues, forKey: .queues)
            try c.encode(from, forKey: .from)
        case let .overloadBack(to, rate, size, sizeRate, arrivalRate, shed):
            try c.encode(to, forKey: .to)
            try c.encode(rate, forKey: .rate)
            try c.encode(size, forKey: .size)
            try c.encode(sizeRate, forKey: .sizeRate)
            try c.encode(arrivalRate, forKey: .arrivalRate)
            try c.encode(shed, forKey: .shed)
        case let .overloadProbe(size, rate, arrivalRate, probing):
            try c.encode(size, forKey: .size)
            try c.encode(rate, forKey: .rate)
            try c.encode(arrivalRate, forKey: .arrivalRate)
            try c.encode(probing, forKey: .probing)
        case let .overloadShed(size, arrivalRate, queues, shed, prediction):
            try c.encode(size, forKey: .size)
            try c.encode(arrivalRate, forKey: .arrivalRate)
            try c.encode(queues, forKey: .queues)
            try c.encode(shed, forKey: .shed)
            try c.encodeIfPresent(prediction, forKey: .prediction)
        case let .requestsBack(requests, rate, to, toRate):
            try c.encode(requests, forKey: .requests)
            try c.encode(rate, forKey: .rate)
            try c.encode(to, forKey: .to)
            try c.encode(toRate, forKey: .toRate)
        case let .requestsProbe(size, requests, rate, probing):
            try c.encode(size, forKey: .size)
            try c.encode(requests, forKey: .requests)
            try c.encode(rate, forKey: .rate)
            try c.encode(probing, forKey: .probing)
        case let .loadFell(size):
            try c.encode(size, forKey: .size)
        case let .sloMissed(size, slo, to, prediction):
            try c.encode(size, forKey: .size)
            try c.encode(slo, forKey: .slo)
            try c.encode(to, forKey: .to)
            try c.encodeIfPresent(prediction, forKey: .prediction)
        case let .noLongerFits(size, violation, to, prediction):
            try c.encode(size, forKey: .size)
            try c.encode(violation, forKey: .violation)
            try c.encode(to, forKey: .to)
            try c.encodeIfPresent(prediction, forKey: .prediction)
        case let .smallerTie(to, size, prediction):
            try c.encode(to, forKey: .to)
            try c.encode(size, forKey: .size)
            try c.encodeIfPresent(prediction, forKey: .prediction)
        case let .highestWithinSLO(to, slo, prediction):
            try c.encode(to, forKey: .to)
            try c.encode(slo, forKey: .slo)
            try c.encodeIfPresent(prediction, forKey: .prediction)
        case let .highestKeepingUp(to, prediction):
            try c.encode(to, forKey: .to)
            try c.encodeIfPresent(prediction, forKey: .prediction)
        case let .lightLoad(to, size, arrivalRate, prediction):
            try c.encode(to, forKey: .to)
            try c.encode(size, forKey: .size)
            try c.encode(arrivalRate, forKey: .arrivalRate)
            try c.encodeIfPresent(prediction, forKey: .prediction)
        case let .probeUp(to, size):
            try c.encode(to, forKey: .to)
            try c.encode(size, forKey: .size)
        case let .probeDown(to):
            try c.encode(to, forKey: .to)
        case let .aimdDecrease(p99, slo):
            try c.encode(p99, forKey: .p99)
            try c.encode(slo, forKey: .slo)
        case let .aimdIncrease(p99):
            try c.encode(p99, forKey: .p99)
        case let .intervalLonger(stream, from, to, arrivalRate, rate, queues, stability):
            try c.encode(stream, forKey: .stream)
            try c.encode(from, forKey: .from)
            try c.encode(to, forKey: .to)
            try c.encode(arrivalRate, forKey: .arrivalRate)
            try c.encodeIfPresent(rate, forKey: .rate)
            try c.encode(queues, forKey: .queues)
            try c.encode(stability, forKey: .stability)
        case let .intervalShorter(stream, from, to, arrivalRate, after, capacity, stability):
            try c.encode(stream, forKey: .stream)
            try c.encode(from, forKey: .from)
            try c.encode(to, forKey: .to)
            try c.encode(arrivalRate, forKey: .arrivalRate)
            try c.encode(after, forKey: .after)
            try c.encodeIfPresent(capacity, forKey: .capacity)
            try c.encode(stability, forKey: .stability)
        case let .streamJoined(stream, streams), let .streamLeft(stream, streams):
            try c.encode(stream, forKey: .stream)
            try c.encode(streams, forKey: .streams)
        case let .modelChanged(tag):
            try c.encode(tag, forKey: .tag)
        case let .text(words):
            try c.encode(words, forKey: .text)
        }
    }
}
