import Foundation
import Testing
import TestSupport
import VigilIO

/// TLS and mutual TLS against a real mosquitto whose listener requires a client certificate, with certificates
/// made by `openssl` for this run.
@Suite(.timeLimit(.minutes(2)))
struct BrokerTLSTests {
    static func client(port: Int, host: String = "127.0.0.1", tls: MQTTClientOptions.TLS) throws -> (MQTTClient, RecordingHandler) {
        var options = MQTTClientOptions(host: host, port: port, clientID: "tls-\(UUID().uuidString.prefix(8))")
        options.tls = tls
        options.subscriptions = [("t/#", 1)]
        let client = try MQTTClient(options: options)
        let handler = RecordingHandler()
        try client.start(handler: handler)
        return (client, handler)
    }

    @Test func mutualTLSConnectsWithTheRightCertificateAndIsRefusedOtherwise() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-tls-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let certificates = try TLSFixture(directory: folder.appendingPathComponent("certs"))
        let broker = try Broker(extraConfig: certificates.brokerConfig)
        defer { broker.stop() }

        // The right client certificate: connected, subscribed, and a message goes through over TLS.
        let (good, handler) = try Self.client(port: broker.port, tls: .init(
            caFile: certificates.caFile, certFile: certificates.clientCert, keyFile: certificates.clientKey))
        defer { good.stop() }
        #expect(handler.subscribed.wait(timeout: 10) { $0 >= 1 }.satisfied, "\(handler.failures.current)")
        try good.publish(topic: "t/1", payload: "42", qos: 1)
        #expect(handler.received.wait(timeout: 10) { $0.distinct == 1 }.satisfied)

        // server_name: the certificate says localhost, we connect to 127.0.0.1 and ask for localhost.
        let (named, namedHandler) = try Self.client(port: broker.port, tls: .init(
            caFile: certificates.caFile, certFile: certificates.clientCert, keyFile: certificates.clientKey, serverName: "localhost"))
        #expect(namedHandler.connects.wait(timeout: 10) { $0 >= 1 }.satisfied, "\(namedHandler.failures.current)")
        named.stop()

        // No client certificate, an untrusted one, a broker certificate from a CA we do not trust, and a host
        // name the broker's certificate does not carry: each refused (a failure recorded, never a connect).
        let refused: [(String, MQTTClientOptions.TLS, String)] = [
            ("no client certificate", .init(caFile: certificates.caFile), "127.0.0.1"),
            ("untrusted client certificate", .init(caFile: certificates.caFile, certFile: certificates.untrustedClientCert, keyFile: certificates.untrustedClientKey), "127.0.0.1"),
            ("untrusted broker", .init(caFile: certificates.untrustedCA, certFile: certificates.clientCert, keyFile: certificates.clientKey), "127.0.0.1"),
            ("wrong server name", .init(caFile: certificates.caFile, certFile: certificates.clientCert, keyFile: certificates.clientKey, serverName: "broker.example"), "127.0.0.1"),
        ]
        for (name, tls, host) in refused {
            let (client, handler) = try Self.client(port: broker.port, host: host, tls: tls)
            #expect(handler.failures.wait(timeout: 30) { !$0.isEmpty }.satisfied, "\(name): no failure reported")
            #expect(handler.connects.current == 0, "\(name): connected")
            client.stop()
        }
    }

    @Test func verificationCanOnlyBeTurnedOffExplicitly() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-tls-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let certificates = try TLSFixture(directory: folder)
        let broker = try Broker(extraConfig: certificates.brokerConfig)
        defer { broker.stop() }
        // A CA we do not trust, but verification off: connects (and the config says so in a warning).
        let (client, handler) = try Self.client(port: broker.port, tls: .init(
            caFile: certificates.untrustedCA, certFile: certificates.clientCert, keyFile: certificates.clientKey, verify: false))
        defer { client.stop() }
        #expect(handler.connects.wait(timeout: 10) { $0 >= 1 }.satisfied, "\(handler.failures.current)")

        let config = try VigilConfig.parse(yaml: """
            broker:
              password: "inline"
              tls: {insecure_skip_verify: true}
            subscriptions: [{filter: "a/#", device: "a/{device}"}]
            """)
        #expect(config.warnings.count == 2)
        #expect(config.clientOptions(password: nil).tls?.verify == false)
        #expect(try VigilConfig.parse(yaml: "broker: {tls: {}}\nsubscriptions: [{filter: \"a/#\", device: \"a/{device}\"}]").broker.tls?.insecureSkipVerify == false)
    }
}
