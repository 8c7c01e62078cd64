// `TrackerBench replay DETECTIONS.jsonl EVERY [REPORT] [NAME=VALUE...] [line:NAME=x1,y1,x2,y2...]`:
// the tracking a stream gets, on detections recorded once (an events file of `batchline run
// --score-threshold 0.1`, every frame detected, or the ground truth's own boxes): a `StreamTracker`
// fed as the pipeline feeds it, the detector's answer on every EVERY-th frame and the tracker's on
// the others, reporting detections from REPORT (the model's threshold, 0.5) up. Prints the events
// lines the pipeline would write (frame, pts, inferred, detections with track ids, and, with lines,
// their events as `run --line` counts them). What `bench/tracking.sh` tunes the tracker with in
// seconds instead of detector runs; the pipeline itself is measured there too.
import Analytics
import Foundation
import Tracking
import Vision

/// One recorded line: its frame, time and detections.
struct RecordedFrame: Decodable {
    struct Found: Decodable {
        var label: String
        var score: Float
        var box: [Double]
    }
    var frame: Int
    var pts: Double
    var detections: [Found]
}

/// Output line.
struct ReplayLine: Encodable {
    struct Box: Encodable {
        var label: String
        var score: Float
        var box: [Double]
        var track: UInt64?
    }
    var frame: Int
    var pts: Double
    var inferred: Bool
    var detections: [Box]
    var events: [AnalyticsEvent]?
}

func replay(_ arguments: [String]) throws {
    guard arguments.count >= 2, let every = Int(arguments[1]), every >= 1 else {
        throw ReplayError("usage: TrackerBench replay DETECTIONS.jsonl EVERY [REPORT] [line:NAME=x1,y1,x2,y2...]")
    }
    let report = arguments.count > 2 ? Float(arguments[2]) ?? 0.5 : 0.5
    let text = try String(contentsOfFile: arguments[0], encoding: .utf8)
    var classes: [String: Int] = [:]
    var config = TrackerConfig(hitsToConfirm: every > 1 ? 1 : 3)
    var lines: [LineSpec] = []
    // NAME=VALUE after them: a motion noise to try instead of the default; line:NAME=x1,y1,x2,y2 a
    // counting line.
    for setting in arguments.dropFirst(3) {
        let parts = setting.split(separator: "=")
        if parts.count == 2, parts[0].hasPrefix("line:") {
            let xy = parts[1].split(separator: ",").compactMap { Double($0) }
            guard xy.count == 4 else { throw ReplayError("not line:NAME=x1,y1,x2,y2: \(setting)") }
            let name = String(parts[0].dropFirst(5))
            lines.append(LineSpec(name: name, from: Point(xy[0], xy[1]), to: Point(xy[2], xy[3])))
            continue
        }
        guard parts.count == 2, let value = Double(parts[1]) else { throw ReplayError("not NAME=VALUE: \(setting)") }
        switch parts[0] {
        case "acceleration": config.accelerationNoise = value
        case "measurement": config.measurementNoise = value
        case "velocity": config.initialVelocityNoise = value
        case "new": config.newTrackScore = Float(value)
        case "high": config.highScore = Float(value)
        default: throw ReplayError("unknown setting \(parts[0])")
        }
    }
    var stream = StreamTracker(config: config)
    var analytics = lines.isEmpty ? nil : StreamAnalytics(spec: AnalyticsSpec(lines: lines), idPrefix: "replay")
    let decoder = JSONDecoder()
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    var out = ""
    for (k, raw) in text.split(separator: "\n").enumerated() {
        let line = try decoder.decode(RecordedFrame.self, from: Data(raw.utf8))
        let inferred = k % every == 0
        let reported: [Detection]
        if inferred {
            let threshold = stream.decodeThreshold(reporting: report)
            let found = line.detections.filter { $0.score >= threshold }.map { d in
                let id = classes[d.label] ?? classes.count
                classes[d.label] = id
                return Detection(label: d.label, classId: id, score: d.score, box: d.box)
            }
            reported = stream.inferred(found, pts: line.pts, reportThreshold: report)
        } else {
            reported = stream.skipped(pts: line.pts)
        }
        let boxes = reported.map { ReplayLine.Box(label: $0.label, score: $0.score, box: $0.box, track: $0.track) }
        // As the output stage counts: the confirmed tracks (those with an id) on the tracker's clock.
        let events = stream.now.flatMap { now in
            analytics?.update(
                reported.compactMap { d in d.track.map { Observation(track: $0, label: d.label, box: d.box) } },
                at: now)
        }
        let encoded = try encoder.encode(
            ReplayLine(frame: line.frame, pts: line.pts, inferred: inferred, detections: boxes, events: events))
        out += String(decoding: encoded, as: UTF8.self) + "\n"
    }
    FileHandle.standardOutput.write(Data(out.utf8))
}

struct ReplayError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
