import Batching
import Foundation
import Runtime

extension RunStats {
    /// The batch size manager's decisions over time: batch size (a step line) and arrival rate,
    /// two panels, with the overloaded stretches named in the legend. Nil without decisions.
    public var decisionsPlot: String? {
        guard !batchDecisions.isEmpty else { return nil }
        // Step line: hold each size until the next decision, then to the end of the run.
        var times: [Double] = []
        var sizes: [Double] = []
        var rates: [Double] = []
        var inFlight: [Double] = []
        var current = Double(batchDecisions[0].from)
        var rate = batchDecisions[0].arrivalRate
        var requests = Double(batchDecisions[0].requests ?? requestsInFlight)
        func point(_ t: Double) {
            times.append(t)
            sizes.append(current)
            rates.append(rate)
            inFlight.append(requests)
        }
        point(0)
        for d in batchDecisions {
            point(d.time)
            current = Double(d.to)
            rate = d.arrivalRate
            requests = Double(d.requests ?? Int(requests))
            point(d.time)
        }
        point(max(seconds, times.last ?? 0))
        let overloaded = batchDecisions.filter(\.overloaded).count
        let w = 560
        let h = 300
        let top = SVGChart(
            title: "Batch size (\(batchPolicy) policy, \(batchDecisions.count) decisions, \(overloaded) in overload)",
            xLabel: "seconds", yLabel: "batch size", xs: times,
            series: [.init(name: "batch size", values: sizes, color: "#d62728")]
                + (batchDecisions.contains { $0.requests != nil }
                    ? [.init(name: "requests in flight", values: inFlight, color: "#2ca02c", dashed: true)] : []),
            logX: false)
        let bottom = SVGChart(
            title: "Arrival rate seen at each decision", xLabel: "seconds", yLabel: "frames/s", xs: times,
            series: [.init(name: "arrivals", values: rates, color: "#1f77b4")], logX: false)
        return SVGChart.stacked(top, bottom, width: w, height: h)
    }
}
