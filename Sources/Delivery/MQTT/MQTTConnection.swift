import NIOCore
import NIOPosix
import NIOSSL

/// What a connection tells its sink: a PUBACK, or that it closed (and why).
enum MQTTInbound: Sendable, Equatable {
    case ack(UInt16)
    case closed(String)
}

/// One TCP connection to a broker, CONNECT-ed: `publish` writes, acknowledgements and the close
/// arrive through `tell` as they happen (on the event loop; nothing polls). Keep-alive: a PINGREQ
/// after `keepAlive` seconds without a write; no byte from the broker for 1.5 x `keepAlive`
/// closes the connection (a broker or a network that vanished without a FIN).
final class MQTTConnection: Sendable {
    private let channel: any Channel

    private init(channel: any Channel) { self.channel = channel }

    /// Connects and waits for the broker's CONNACK, at most `timeout` seconds in all.
    static func connect(
        to broker: Broker, clientID: String, keepAlive: UInt16, will: MQTTPacket.Will?, timeout: Double,
        tls: NIOSSLContext? = nil, group: any EventLoopGroup, tell: @escaping @Sendable (MQTTInbound) -> Void
    ) async throws(SinkError) -> MQTTConnection {
        let eventLoop = group.next()
        let connack = eventLoop.makePromise(of: MQTTPacket.self)
        let deadline = TimeAmount.milliseconds(Int64(timeout * 1000))
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: eventLoop)
                .connectTimeout(deadline)
                .channelOption(.socketOption(.so_reuseaddr), value: 1)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        if let tls {
                            // A name is checked against the certificate; an address against its IP entries.
                            let name = broker.host.contains(where: { $0.isLetter }) ? broker.host : nil
                            try channel.pipeline.syncOperations.addHandler(
                                try NIOSSLClientHandler(context: tls, serverHostname: name))
                        }
                        try channel.pipeline.syncOperations.addHandlers([
                            IdleStateHandler(
                                readTimeout: .milliseconds(Int64(keepAlive) * 1500),
                                writeTimeout: .seconds(Int64(keepAlive))),
                            MQTTHandler(connack: connack, tell: tell),
                        ])
                    }
                }
                .connect(host: broker.host, port: broker.port).get()
        } catch {
            connack.fail(error)
            throw SinkError("cannot connect to \(broker.host):\(broker.port): \(error)")
        }
        let timer = eventLoop.scheduleTask(in: deadline) {
            connack.fail(SinkError("no CONNACK from \(broker.host):\(broker.port) in \(timeout) s"))
        }
        var buffer = channel.allocator.buffer(capacity: 128)
        MQTTPacket.connect(
            clientID: clientID, keepAlive: keepAlive, user: broker.user, password: broker.password, will: will
        ).encode(into: &buffer)
        channel.writeAndFlush(buffer, promise: nil)
        do {
            let answer = try await connack.futureResult.get()
            timer.cancel()
            guard case let .connack(_, code) = answer, code == 0 else {
                let code: UInt8 = if case let .connack(_, c) = answer { c } else { 255 }
                try? await channel.close()
                throw SinkError(MQTTPacket.refusal(code))
            }
        } catch let error as SinkError {
            try? await channel.close()
            throw error
        } catch {
            try? await channel.close()
            throw SinkError("\(error)")
        }
        return MQTTConnection(channel: channel)
    }

    /// Writes a PUBLISH (QoS 1 with `id`, QoS 0 without); its PUBACK arrives through `tell`.
    func publish(topic: String, payload: some Collection<UInt8>, id: UInt16?, retain: Bool, dup: Bool = false) {
        var buffer = channel.allocator.buffer(capacity: payload.count + topic.utf8.count + 8)
        MQTTPacket.publish(topic: topic, payload: Array(payload), id: id, retain: retain, dup: dup).encode(
            into: &buffer)
        channel.write(buffer, promise: nil)
    }

    /// Sends what `publish` wrote.
    func flush() { channel.flush() }

    /// Says goodbye (a DISCONNECT: the broker does not send the will) and closes.
    func disconnect() async {
        var buffer = channel.allocator.buffer(capacity: 2)
        MQTTPacket.disconnect.encode(into: &buffer)
        try? await channel.writeAndFlush(buffer)
        try? await channel.close()
    }

    /// Closes without a DISCONNECT (the broker sends the will).
    func close() async { try? await channel.close() }
}

/// Decodes the broker's packets, answers keep-alive, and tells the sink.
private final class MQTTHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let connack: EventLoopPromise<MQTTPacket>
    private let tell: @Sendable (MQTTInbound) -> Void
    private var received: ByteBuffer?
    private var closedReason: String?

    init(connack: EventLoopPromise<MQTTPacket>, tell: @escaping @Sendable (MQTTInbound) -> Void) {
        self.connack = connack
        self.tell = tell
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        if received == nil { received = bytes } else { received!.writeBuffer(&bytes) }
        do {
            while let packet = try MQTTPacket.decode(&received!) {
                switch packet {
                case .connack: connack.succeed(packet)
                case let .puback(id): tell(.ack(id))
                default: break
                }
            }
            received!.discardReadBytes()
        } catch {
            fail(context: context, "\(error)")
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let idle = event as? IdleStateHandler.IdleStateEvent else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        switch idle {
        case .write:
            var buffer = context.channel.allocator.buffer(capacity: 2)
            MQTTPacket.pingreq.encode(into: &buffer)
            context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
        case .read: fail(context: context, "no answer from the broker within its keep-alive")
        case .all: break
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) { fail(context: context, "\(error)") }

    func channelInactive(context: ChannelHandlerContext) {
        let reason = closedReason ?? "the broker closed the connection"
        connack.fail(SinkError(reason))
        tell(.closed(reason))
        context.fireChannelInactive()
    }

    private func fail(context: ChannelHandlerContext, _ reason: String) {
        if closedReason == nil { closedReason = reason }
        context.close(promise: nil)
    }
}
