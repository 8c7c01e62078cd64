import Analytics
import Core
import Foundation
import Vision

#if canImport(Glibc)
    import Glibc
#endif

/// The result for one frame, as an event line reports it.
public struct FrameResult: Sendable {
    /// Which source (0 for the first `--source`).
    public var stream: Int
    /// Frame index in its stream.
    public var frame: Int
    /// Presentation time in seconds.
    public var pts: Double
    /// `name@version` of the model that produced it.
    public var model: String
    /// Size of the batch it was inferred in.
    public var batch: Int
    /// What was found.
    public var detections: [Detection]
    /// Why the frame was not processed (shed under overload); nil for a processed frame.
    public var dropped: String? = nil
    /// A shed frame's line may stand for the frames after it too, shed for the same reason: the
    /// last of them (`"through"`); nil for one frame.
    public var through: Int? = nil
    /// The stream's name, written as `stream` in place of its number (a service's streams).
    public var name: String? = nil
    /// Wall-clock time of the result, seconds since 1970 (a service's events carry it).
    public var time: Double? = nil
    /// Whether the detector ran on the frame; false for a frame a tracked stream's interval or
    /// motion gate skipped, answered by its tracker (`"inferred":false`, the tracks' predicted boxes).
    public var inferred = true
    /// What the stream's lines and zones saw happen on this frame (`"events":[...]`, absent when none).
    public var events: [AnalyticsEvent] = []

    /// The event line, without its newline:
    /// `{"stream":0,"frame":i,"pts":s,"model":"m@v","batch":B,"detections":[{"label":..,"score":..,"box":[..]}]}`;
    /// a tracked stream's detections carry `"track":ID`, and a frame its tracker answered
    /// `"batch":0,"inferred":false`.
    public var jsonLine: String {
        var head = "{\"stream\":\(name.map(quoted) ?? String(stream)),\"frame\":\(frame),\"pts\":\(fixed(pts, 6)),"
        if let time { head += "\"time\":\(fixed(time, 3))," }
        head += "\"model\":\(quoted(model)),"
        if let dropped {
            return head + "\"dropped\":\(quoted(dropped))" + (through.map { ",\"through\":\($0)}" } ?? "}")
        }
        var s = head + "\"batch\":\(batch)," + (inferred ? "" : "\"inferred\":false,") + "\"detections\":["
        for (i, d) in detections.enumerated() {
            if i > 0 { s += "," }
            s += "{\"label\":\(quoted(d.label)),\"score\":\(fixed(Double(d.score), 4)),\"box\":["
            s += d.box.map { fixed($0, 1) }.joined(separator: ",") + "]"
            s += d.track.map { ",\"track\":\($0)}" } ?? "}"
        }
        s += "]"
        if !events.isEmpty {
            s += ",\"events\":["
            for (i, e) in events.enumerated() {
                if i > 0 { s += "," }
                s += "{\"id\":\(quoted(e.id)),\"type\":\(quoted(e.type.rawValue)),"
                if let line = e.line { s += "\"line\":\(quoted(line))," }
                if let zone = e.zone { s += "\"zone\":\(quoted(zone))," }
                s += "\"track\":\(e.track),"
                if let d = e.direction { s += "\"direction\":\(quoted(d.rawValue))," }
                s += "\"time\":\(fixed(time ?? e.time, 3))}"
            }
            s += "]"
        }
        return s + "}"
    }
}

private func fixed(_ v: Double, _ digits: Int) -> String {
    let s = String(format: "%.\(digits)f", v)
    // Trim trailing zeros to keep lines short; keep at least one digit after the point.
    guard s.contains(".") else { return s }
    var t = Substring(s)
    while t.hasSuffix("0") && !t.hasSuffix(".0") { t = t.dropLast() }
    return String(t)
}

private func quoted(_ text: String) -> String {
    var s = "\""
    for ch in text.unicodeScalars {
        switch ch {
        case "\"": s += "\\\""
        case "\\": s += "\\\\"
        case "\n": s += "\\n"
        case _ where ch.value < 0x20: s += String(format: "\\u%04x", ch.value)
        default: s.unicodeScalars.append(ch)
        }
    }
    return s + "\""
}
