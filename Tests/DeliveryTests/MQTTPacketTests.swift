import NIOCore
import Testing

@testable import Delivery

@Suite("MQTT 3.1.1 packets")
struct MQTTPacketTests {
    @Test("PUBLISH, CONNECT and PUBACK encode as the standard lays out; a split packet waits for the rest")
    func encodeDecode() throws {
        var buffer = ByteBuffer()
        MQTTPacket.publish(topic: "a/b", payload: Array("hi".utf8), id: 10, retain: true, dup: false)
            .encode(into: &buffer)
        #expect(Array(buffer.readableBytesView) == [0x33, 9, 0, 3, 0x61, 0x2F, 0x62, 0, 10, 0x68, 0x69])

        var connect = ByteBuffer()
        MQTTPacket.connect(
            clientID: "c", keepAlive: 10, user: nil, password: nil,
            will: .init(topic: "t", payload: Array("x".utf8), retain: true)
        ).encode(into: &connect)
        // Fixed header, "MQTT", level 4, flags: will retain, will QoS 1, will, clean session.
        #expect(Array(connect.readableBytesView.prefix(10)) == [0x10, 19, 0, 4, 0x4D, 0x51, 0x54, 0x54, 4, 0x2E])

        var long = ByteBuffer()
        MQTTPacket.publish(topic: "t", payload: Array(repeating: 1, count: 300), id: 1, retain: false, dup: true)
            .encode(into: &long)
        #expect(Array(long.readableBytesView.prefix(3)) == [0x3A, 0xB1, 0x02])  // 305 as two length bytes

        var acks = ByteBuffer(bytes: [0x40, 2, 0, 7, 0x20, 2, 0, 0, 0x40, 2, 0])
        #expect(try MQTTPacket.decode(&acks) == .puback(id: 7))
        #expect(try MQTTPacket.decode(&acks) == .connack(sessionPresent: false, code: 0))
        #expect(try MQTTPacket.decode(&acks) == nil)
        #expect(acks.readableBytes == 3, "a split packet is left whole")
    }

    @Test("A broker's hostile packets are protocol errors, not crashes")
    func hostile() throws {
        for bytes: [UInt8] in [
            [0x40, 0xFF, 0xFF, 0xFF, 0xFF, 0x01],  // a length of five bytes
            [0x40, 0xFF, 0xFF, 0x7F],  // 2 MB
            [0x40, 3, 0, 1, 2],  // a PUBACK of 3 bytes
            [0x20, 1, 0],  // a CONNACK of 1
            [0x10, 0],  // a CONNECT from the broker
        ] {
            var buffer = ByteBuffer(bytes: bytes)
            #expect(throws: MQTTProtocolError.self) { try MQTTPacket.decode(&buffer) }
        }
        var subscribeAck = ByteBuffer(bytes: [0x90, 3, 0, 1, 1])
        #expect(try MQTTPacket.decode(&subscribeAck) == .ignored(type: 9))
    }
}
