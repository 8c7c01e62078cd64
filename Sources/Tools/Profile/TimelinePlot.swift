import Batching
import Foundation
import ModelServing
import Runtime

extension RunStats {
    /// Frames out per second and frame lag over the run, two panels, with a dashed line at every
    /// model swap (switch point) or, without swaps, at every batch size change. Nil without a timeline.
    public var timelinePlot: String? {
        guard timeline.count >= 2 else { return nil }
        let times = timeline.map { $0.time + $0.width / 2 }
        let swaps = modelSwaps.compactMap(\.switchedAt)
        let changes = batchDecisions.filter { $0.from != $0.to }.map(\.time)
        let (markers, name) =
            swaps.isEmpty
            ? (changes, "batch size change") : (swaps, "model swap (\(swaps.count), switch points)")
        let w = 640
        let h = 300
        let top = SVGChart(
            title: "Frames out per second (\(frames) frames, \(dropped) shed)", xLabel: "seconds",
            yLabel: "frames/s", xs: times,
            series: [.init(name: "frames/s", values: timeline.map(\.fps), color: "#1f77b4")], logX: false,
            dots: false, markers: markers, markerName: name)
        let bottom = SVGChart(
            title: "Frame lag, arrival to result", xLabel: "seconds", yLabel: "ms", xs: times,
            series: [
                .init(name: "max", values: timeline.map(\.lagMaxMs), color: "#d62728"),
                .init(name: "mean", values: timeline.map(\.lagMeanMs), color: "#ff7f0e", dashed: true),
            ], logX: false, dots: false, markers: markers, markerName: name)
        return SVGChart.stacked(top, bottom, width: w, height: h)
    }
}
