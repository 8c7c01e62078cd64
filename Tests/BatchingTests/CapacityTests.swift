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
}
