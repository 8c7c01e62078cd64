import Batching
import Monitoring
import VideoIO

/// What the output stage measured, as the run's stats.
extension OutputStage {
    /// The run's figures: stages, streams (written, shed, tracked, by why the detector skipped,
    /// the interval at the end), batches, queues, resources, decisions.
    func stats(
        options: PipelineOptions, requests: Int, seconds: Double, info: VideoInfo,
        queues: [String: RunStats.QueueStats],
        sourceErrors: [Int: String], resources: ResourceSummary, machine: MachineInfo, deviceInfo: [String: String]
    ) -> RunStats {
        var stages = [
            Stage.decode.rawValue: decode.summary, Stage.preprocess.rawValue: preprocess.summary,
            Stage.infer.rawValue: infer.summary, Stage.postprocess.rawValue: postprocess.summary,
        ]
        if encode.summary.count > 0 { stages["encode"] = encode.summary }
        let perStream = sources.indices.map { i -> RunStats.StreamStats in
            let s = streams[i] ?? StreamOut(sink: StreamSink(source: sources[i]))
            let span = (s.firstOut.map { s.lastOut - $0 }) ?? 0
            let written = s.next - s.dropped
            return RunStats.StreamStats(
                source: sources[i], frames: written, fps: span > 0 ? Double(written - 1) / span : 0,
                lag: s.lag.summary, error: sourceErrors[i], dropped: s.dropped,
                tracked: s.tracking != nil ? s.tracked : nil, skipped: s.tracking != nil ? s.skipped : nil,
                interval: s.sink.interval?.interval)
        }
        let firstError = sourceErrors.sorted { $0.key < $1.key }.first.map { "\(sources[$0.key]): \($0.value)" }
        var stats = RunStats(
            source: sources.joined(separator: ","), model: tag, device: options.device, frames: frames,
            dropped: streams.values.reduce(0) { $0 + $1.dropped },
            expectedFrames: sources.count == 1 ? info.frameCount : nil, seconds: seconds,
            fps: seconds > 0 ? Double(frames) / seconds : 0, stages: stages,
            inferPerFrameMs: frames > 0 ? infer.total / Double(frames) * 1000 : 0,
            batchSizes: Dictionary(uniqueKeysWithValues: batches.map { (String($0.key), $0.value) }),
            queues: queues,
            video: .init(width: info.width, height: info.height, fps: info.frameRate, codec: info.codec),
            error: firstError, mode: options.mode.rawValue, requestsInFlight: requests,
            preprocessWorkers: options.mode == .sequential ? 1 : options.preprocessWorkers,
            perBatch: [
                Stage.preprocess.rawValue: batchPre.summary, Stage.infer.rawValue: infer.summary,
                Stage.postprocess.rawValue: batchPost.summary,
            ],
            streams: perStream, resources: resources, machine: machine, deviceInfo: deviceInfo,
            batchPolicy: options.batchPolicy.rawValue, shedPolicy: options.effectiveShed.rawValue,
            batchDecisions: manager?.decisions ?? [])
        stats.timeline = timeline.points
        stats.batchDecisionCount = manager?.decisionCount
        return stats
    }

}
