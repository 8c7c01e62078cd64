import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// One NVIDIA GPU's utilisation and memory.
public struct GPUSample: Codable, Sendable, Equatable {
    /// NVML's index.
    public var index: Int
    /// Product name.
    public var name: String
    /// Percent of time a kernel ran over the last sample period.
    public var utilization: Int
    /// Memory in use, bytes.
    public var memoryUsedBytes: Int
    /// Memory in all, bytes.
    public var memoryTotalBytes: Int

    enum CodingKeys: String, CodingKey {
        case index, name, utilization
        case memoryUsedBytes = "memory_used_bytes"
        case memoryTotalBytes = "memory_total_bytes"
    }
}

/// NVIDIA's management library, loaded at run time with `dlopen` so that Batchline neither links
/// nor needs it: absent (as on CPU-only machines), the monitor reports "no GPU" and carries on.
///
/// `@unchecked Sendable`: NVML is thread-safe; the handle and function pointers never change.
final class NVML: @unchecked Sendable {
    private typealias Init = @convention(c) () -> Int32
    private typealias Count = @convention(c) (UnsafeMutablePointer<UInt32>) -> Int32
    private typealias Handle = @convention(c) (UInt32, UnsafeMutablePointer<OpaquePointer?>) -> Int32
    private typealias Name = @convention(c) (OpaquePointer?, UnsafeMutablePointer<CChar>, UInt32) -> Int32
    private typealias Utilization = @convention(c) (OpaquePointer?, UnsafeMutablePointer<UInt32>) -> Int32
    private typealias Memory = @convention(c) (OpaquePointer?, UnsafeMutablePointer<UInt64>) -> Int32

    private let library: UnsafeMutableRawPointer
    private let count: Count
    private let handle: Handle
    private let name: Name
    private let utilization: Utilization
    private let memory: Memory

    /// Loads NVML and initialises it, or returns nil when it is absent or fails.
    static func load() -> NVML? {
        guard let lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL) else { return nil }
        func sym<T>(_ name: String, _: T.Type) -> T? {
            dlsym(lib, name).map { unsafeBitCast($0, to: T.self) }
        }
        guard let initialize = sym("nvmlInit_v2", Init.self), initialize() == 0,
            let count = sym("nvmlDeviceGetCount_v2", Count.self),
            let handle = sym("nvmlDeviceGetHandleByIndex_v2", Handle.self),
            let name = sym("nvmlDeviceGetName", Name.self),
            let utilization = sym("nvmlDeviceGetUtilizationRates", Utilization.self),
            let memory = sym("nvmlDeviceGetMemoryInfo", Memory.self)
        else {
            dlclose(lib)
            return nil
        }
        return NVML(lib, count, handle, name, utilization, memory)
    }

    private init(
        _ library: UnsafeMutableRawPointer, _ count: Count, _ handle: Handle, _ name: Name,
        _ utilization: Utilization, _ memory: Memory
    ) {
        self.library = library
        self.count = count
        self.handle = handle
        self.name = name
        self.utilization = utilization
        self.memory = memory
    }

    /// Utilisation and memory of every GPU.
    func sample() -> [GPUSample] {
        var n: UInt32 = 0
        guard count(&n) == 0 else { return [] }
        return (0..<n).compactMap { i -> GPUSample? in
            var device: OpaquePointer?
            guard handle(i, &device) == 0 else { return nil }
            var text = [CChar](repeating: 0, count: 96)
            _ = name(device, &text, UInt32(text.count))
            var rates: (UInt32, UInt32) = (0, 0)  // nvmlUtilization_t { gpu, memory }
            _ = withUnsafeMutablePointer(to: &rates) {
                $0.withMemoryRebound(to: UInt32.self, capacity: 2) { utilization(device, $0) }
            }
            var mem: (UInt64, UInt64, UInt64) = (0, 0, 0)  // nvmlMemory_t { total, free, used }
            _ = withUnsafeMutablePointer(to: &mem) {
                $0.withMemoryRebound(to: UInt64.self, capacity: 3) { memory(device, $0) }
            }
            return GPUSample(
                index: Int(i),
                name: String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self),
                utilization: Int(rates.0), memoryUsedBytes: Int(mem.2), memoryTotalBytes: Int(mem.0))
        }
    }
}
