#if canImport(Glibc)
    import Glibc
#endif

/// A DNS name's addresses, as the system resolver gives them (a headless Service's: one per pod).
/// Blocking (`getaddrinfo`): run it on the blocking executor.
enum Resolver {
    /// Its IPv4 and IPv6 addresses as text, sorted, without duplicates; empty when it resolves to
    /// none (or not at all).
    static func addresses(of host: String) -> [String] {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &list) == 0, let first = list else { return [] }
        defer { freeaddrinfo(first) }
        var found = Set<String>()
        var next: UnsafeMutablePointer<addrinfo>? = first
        while let entry = next {
            var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            if let address = entry.pointee.ai_addr {
                switch entry.pointee.ai_family {
                case AF_INET:
                    address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { v4 in
                        var a = v4.pointee.sin_addr
                        if inet_ntop(AF_INET, &a, &text, socklen_t(text.count)) != nil {
                            found.insert(Self.string(text))
                        }
                    }
                case AF_INET6:
                    address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { v6 in
                        var a = v6.pointee.sin6_addr
                        if inet_ntop(AF_INET6, &a, &text, socklen_t(text.count)) != nil {
                            found.insert("[" + Self.string(text) + "]")
                        }
                    }
                default: break
                }
            }
            next = entry.pointee.ai_next
        }
        return found.sorted()
    }

    private static func string(_ chars: [CChar]) -> String {
        String(decoding: chars.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
