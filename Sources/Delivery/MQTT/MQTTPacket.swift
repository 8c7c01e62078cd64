import NIOCore

/// The MQTT 3.1.1 packets a publisher needs (OASIS MQTT 3.1.1, section 3), encoded and decoded as
/// values: CONNECT out, CONNACK in, PUBLISH out (QoS 0 or 1), PUBACK in, PINGREQ out, PINGRESP in,
/// DISCONNECT out. A broker's packet is untrusted: a length past `maxIncoming`, a malformed length
/// or a packet a publisher never gets is a protocol error, and the connection is closed.
enum MQTTPacket: Sendable, Equatable {
    struct Will: Sendable, Equatable {
        var topic: String
        var payload: [UInt8]
        var retain: Bool
    }

    case connect(clientID: String, keepAlive: UInt16, user: String?, password: String?, will: Will?)
    case connack(sessionPresent: Bool, code: UInt8)
    case publish(topic: String, payload: [UInt8], id: UInt16?, retain: Bool, dup: Bool)
    case puback(id: UInt16)
    case pingreq, pingresp, disconnect
    /// A packet the broker may send but a publisher ignores (a PUBLISH to a subscription it never
    /// made, a SUBACK...): its type.
    case ignored(type: UInt8)

    /// The largest packet accepted from a broker (a publisher receives acknowledgements only).
    static let maxIncoming = 64 << 10

    /// A broker's CONNACK return codes, in words.
    static func refusal(_ code: UInt8) -> String {
        switch code {
        case 1: "the broker refused the protocol version"
        case 2: "the broker refused the client id"
        case 3: "the broker is unavailable"
        case 4: "the broker refused the user name or password"
        case 5: "the broker refused: not authorized"
        default: "the broker refused the connection (code \(code))"
        }
    }

    func encode(into buffer: inout ByteBuffer) {
        var body = ByteBuffer()
        let first: UInt8
        switch self {
        case let .connect(clientID, keepAlive, user, password, will):
            first = 0x10
            body.writeMQTTString("MQTT")
            body.writeInteger(UInt8(4))  // 3.1.1
            var flags: UInt8 = 0x02  // clean session: the outbox, not the broker, holds what is unsent
            if user != nil { flags |= 0x80 }
            if password != nil { flags |= 0x40 }
            if let will {
                flags |= 0x04 | (1 << 3)  // will, QoS 1
                if will.retain { flags |= 0x20 }
            }
            body.writeInteger(flags)
            body.writeInteger(keepAlive)
            body.writeMQTTString(clientID)
            if let will {
                body.writeMQTTString(will.topic)
                body.writeInteger(UInt16(will.payload.count))
                body.writeBytes(will.payload)
            }
            if let user { body.writeMQTTString(user) }
            if let password { body.writeMQTTString(password) }
        case let .publish(topic, payload, id, retain, dup):
            first = 0x30 | (dup ? 0x08 : 0) | (id == nil ? 0 : 0x02) | (retain ? 0x01 : 0)
            body.writeMQTTString(topic)
            if let id { body.writeInteger(id) }
            body.writeBytes(payload)
        case let .puback(id):
            first = 0x40
            body.writeInteger(id)
        case let .connack(present, code):
            first = 0x20
            body.writeInteger(UInt8(present ? 1 : 0))
            body.writeInteger(code)
        case .pingreq: first = 0xC0
        case .pingresp: first = 0xD0
        case .disconnect: first = 0xE0
        case let .ignored(type): first = type << 4
        }
        buffer.writeInteger(first)
        var length = body.readableBytes
        repeat {
            var digit = UInt8(length % 128)
            length /= 128
            if length > 0 { digit |= 0x80 }
            buffer.writeInteger(digit)
        } while length > 0
        buffer.writeBuffer(&body)
    }

    /// Decodes one packet from the front of `buffer`; nil when it holds only part of one (nothing is
    /// consumed then).
    static func decode(_ buffer: inout ByteBuffer) throws(MQTTProtocolError) -> MQTTPacket? {
        var peek = buffer
        guard let first: UInt8 = peek.readInteger() else { return nil }
        var length = 0
        var multiplier = 1
        var digits = 0
        while true {
            guard let digit: UInt8 = peek.readInteger() else { return nil }
            length += Int(digit & 0x7F) * multiplier
            multiplier *= 128
            digits += 1
            if digit & 0x80 == 0 { break }
            guard digits < 4 else { throw MQTTProtocolError("a packet length longer than 4 bytes") }
        }
        guard length <= maxIncoming else { throw MQTTProtocolError("a packet of \(length) bytes from the broker") }
        guard var body = peek.readSlice(length: length) else { return nil }
        buffer = peek
        let type = first >> 4
        switch type {
        case 2:
            guard length == 2, let present: UInt8 = body.readInteger(), let code: UInt8 = body.readInteger() else {
                throw MQTTProtocolError("a CONNACK of \(length) bytes")
            }
            return .connack(sessionPresent: present & 1 == 1, code: code)
        case 4:
            guard length == 2, let id: UInt16 = body.readInteger() else {
                throw MQTTProtocolError("a PUBACK of \(length) bytes")
            }
            return .puback(id: id)
        case 13:
            guard length == 0 else { throw MQTTProtocolError("a PINGRESP of \(length) bytes") }
            return .pingresp
        case 0, 1, 12, 14, 15:
            throw MQTTProtocolError("a packet of type \(type), which a broker never sends")
        default:
            return .ignored(type: type)
        }
    }
}

/// The broker broke the protocol; the connection is closed and made again.
struct MQTTProtocolError: Error, Sendable, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = "MQTT: " + description }
}

extension ByteBuffer {
    mutating func writeMQTTString(_ string: String) {
        let bytes = Array(string.utf8.prefix(65535))
        writeInteger(UInt16(bytes.count))
        writeBytes(bytes)
    }
}
