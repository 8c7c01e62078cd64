import Analytics
import Core
import Foundation
import Logging
import Tracking
import VideoIO
import Vision

/// Event ids: this run's prefix, unique across restarts (the start time and a random part), then
/// the stream and a sequence.
enum EventIDs {
    static let run: String = {
        let start = String(Int(Date().timeIntervalSince1970), radix: 36)
        let random = String(UInt32.random(in: .min ... .max), radix: 36)
        return "\(start)\(random)"
    }()
}

extension OutputStage {
    /// Stream `stream`'s lines and zones become `spec` (none when it is empty), checked again at
    /// the next frame; event ids go on.
    mutating func replaceAnalytics(_ spec: AnalyticsSpec, stream: Int) {
        // Event ids go on from the last issued, through a removal too.
        let issued = streams[stream]!.analytics?.sequence ?? streams[stream]!.eventsIssued
        let prefix = "\(EventIDs.run)-\(streams[stream]!.sink.name ?? String(stream))"
        streams[stream]!.eventsIssued = issued
        streams[stream]!.analytics = spec.isEmpty ? nil : StreamAnalytics(spec: spec, idPrefix: prefix, after: issued)
        streams[stream]!.analyticsChecked = false
        streams[stream]!.analyticsReplaced = true
    }

    /// What the stream's lines and zones saw on a frame whose reported boxes are `found` (its
    /// confirmed tracks are those with an id), on the tracker's clock. The lines and zones are
    /// checked against the frame's size at the stream's first frame that has one: a point outside
    /// it ends the run with one line naming the stream and the item. `decodedAt` (`Clock.now`) is
    /// when the frame was read: the sinks measure their delivery from it.
    mutating func analyse(_ found: [Detection], stream: Int, frame: VideoFrame?, decodedAt: Double) throws
        -> [AnalyticsEvent]
    {
        let (width, height) = (frame?.width ?? 0, frame?.height ?? 0)
        if let spec = streams[stream]!.sink.handle?.takePendingAnalytics() { replaceAnalytics(spec, stream: stream) }
        guard var analytics = streams[stream]!.analytics, let now = streams[stream]!.tracking?.now else { return [] }
        if !streams[stream]!.analyticsChecked, width > 0, height > 0 {
            streams[stream]!.analyticsChecked = true
            do {
                try analytics.spec.validate(width: width, height: height)
            } catch  where streams[stream]!.analyticsReplaced {
                // Given over HTTP before the stream had a frame: this stream goes on without them.
                let name = streams[stream]!.sink.name ?? streams[stream]!.sink.source
                logger?.error("\(name): its new lines and zones do not fit its frames (\(error)); dropped")
                streams[stream]!.analytics = nil
                return []
            } catch {
                let name = streams[stream]!.sink.name ?? streams[stream]!.sink.source
                throw PipelineError(.invalidOptions, "\(name): \(error)")
            }
        }
        let observed = found.compactMap { d in d.track.map { Observation(track: $0, label: d.label, box: d.box) } }
        let events = analytics.update(observed, at: now)
        streams[stream]!.analytics = analytics
        let handle = streams[stream]!.sink.handle
        handle?.analysed(
            events, crossings: analytics.crossings, occupancy: analytics.occupancy, spec: analytics.spec,
            frameAge: Clock.now - decodedAt)
        if !events.isEmpty, let frame {
            handle?.snapshots?.capture(frame, detections: found, events: events)
            handle?.clips?.request(ids: events.map(\.id), at: frame.pts)
        }
        return events
    }
}
