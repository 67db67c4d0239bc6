package import Foundation

/// Certificates made for one test with the `openssl` command-line tool: a CA, a broker certificate for
/// `localhost` and 127.0.0.1 signed by it, a client certificate signed by it, and a second, untrusted CA with a
/// client certificate of its own. Every key is unencrypted PEM, in ``directory``.
package struct TLSFixture: Sendable {
    package let directory: URL
    package var caFile: String { path("ca.crt") }
    package var serverCert: String { path("server.crt") }
    package var serverKey: String { path("server.key") }
    package var clientCert: String { path("client.crt") }
    package var clientKey: String { path("client.key") }
    package var untrustedCA: String { path("rogue-ca.crt") }
    package var untrustedClientCert: String { path("rogue-client.crt") }
    package var untrustedClientKey: String { path("rogue-client.key") }

    package struct Failure: Error, CustomStringConvertible {
        package var description: String
    }

    /// Generates the certificates into `directory` (created if needed).
    package init(directory: URL) throws {
        self.directory = directory
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try makeCA("ca", subject: "/CN=Vigil Test CA")
        try makeCA("rogue-ca", subject: "/CN=Rogue CA")
        try makeLeaf("server", subject: "/CN=localhost", ca: "ca", extensions: "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth")
        try makeLeaf("client", subject: "/CN=vigil", ca: "ca", extensions: "extendedKeyUsage=clientAuth")
        try makeLeaf("rogue-client", subject: "/CN=vigil", ca: "rogue-ca", extensions: "extendedKeyUsage=clientAuth")
    }

    /// mosquitto listener lines for a TLS listener that requires a client certificate signed by the CA.
    package var brokerConfig: [String] {
        ["cafile \(caFile)", "certfile \(serverCert)", "keyfile \(serverKey)", "require_certificate true", "tls_version tlsv1.2"]
    }

    private func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    private func makeCA(_ name: String, subject: String) throws {
        try openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", subject,
                     "-keyout", path("\(name).key"), "-out", path("\(name).crt")])
    }

    private func makeLeaf(_ name: String, subject: String, ca: String, extensions: String) throws {
        try openssl(["req", "-newkey", "rsa:2048", "-nodes", "-subj", subject, "-keyout", path("\(name).key"), "-out", path("\(name).csr")])
        try extensions.write(toFile: path("\(name).ext"), atomically: true, encoding: .utf8)
        try openssl(["x509", "-req", "-in", path("\(name).csr"), "-CA", path("\(ca).crt"), "-CAkey", path("\(ca).key"),
                     "-CAcreateserial", "-days", "2", "-extfile", path("\(name).ext"), "-out", path("\(name).crt")])
    }

    private func openssl(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = arguments
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let output = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw Failure(description: "openssl \(arguments.joined(separator: " ")) failed: \(String(decoding: output, as: UTF8.self))")
        }
    }
}
