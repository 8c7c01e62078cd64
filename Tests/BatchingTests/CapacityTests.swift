import Batching
import Testing

@Suite("Capacity from measured stage costs")
struct CapacityTests {
    @Test("The best size's B over its slowest stage (decoding left out), minus what arrives; unknown until measured")
    func fromCosts() {
        let costs: [Int: [Stage: Double]] = [
            1: [.decode: 0.5, .preprocess: 0.01, .infer: 0.05, .postprocess: 0.002],
            4: [.preprocess: 0.04, .infer: 0.1, .postprocess: 0.008],
        ]
        let c = Capacity(costs: costs, served: 12)
        #expect(c.capacityFPS == 40 && c.servedFPS == 12 && c.headroomFPS == 28)
        #expect(Capacity(costs: costs, served: 55).headroomFPS == 0)
        let unknown = Capacity(costs: [:], served: 3)
        #expect(unknown.capacityFPS == nil && unknown.headroomFPS == nil && unknown.servedFPS == 3)
    }

    @Test(
        "Intervals the manager may still lengthen count as headroom: each auto stream's frames at its interval less at its longest"
    )
    func reclaimable() {
        let costs: [Int: [Stage: Double]] = [4: [.preprocess: 0.04, .infer: 0.1]]
        let streams = [
            IntervalStream(id: "a", interval: 2, maxInterval: 12, fps: 24, stability: 1),  // 12 -> 2: 10 freed
            IntervalStream(id: "b", interval: 12, maxInterval: 12, fps: 24, stability: 1),  // at its longest
        ]
        let c = Capacity(costs: costs, served: 38, intervals: streams)
        #expect(c.reclaimableFPS == 10 && c.headroomFPS == 12)
    }
}
