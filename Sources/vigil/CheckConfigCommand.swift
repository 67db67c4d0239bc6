import VigilCore
import VigilIO

/// `vigil check-config --config PATH`: validates without starting anything.
struct CheckConfigCommand {
    static let flags = [Flag(name: "--config", valueName: "PATH", required: true)]
    static let help = """
        USAGE: vigil check-config --config PATH

        Validates a configuration file: YAML syntax, every key known, every value of the right type and range,
        the password file readable, and every detector profile the subscriptions name (models_dir/NAME.yaml),
        with the same checks. Prints every problem as FILE:LINE: KEY: MESSAGE.

        FLAGS:
          --config PATH   The YAML configuration file (see config.yaml.example).

        EXIT STATUS: 0 valid, 1 invalid, 64 bad command line.
        """

    var options: Options

    func run() -> Int32 {
        let path = options["--config"]!
        do {
            let config = try VigilConfig.load(path: path)
            _ = try config.brokerPassword()
            let detection = try config.detectionSettings()
            _ = try config.outputSecrets()
            var profiles: [String] = []
            for profile in detection.profiles where !profiles.contains(profile.name) { profiles.append(profile.name) }
            let counts = "\(config.subscriptions.count) subscription(s), profile(s) \(profiles.joined(separator: ", "))"
            print("\(path): valid (\(counts), broker \(config.broker.host):\(config.broker.port))")
            for warning in config.warnings { print("\(path): warning: \(warning)") }
            return 0
        } catch {
            printError(error.description)
            return 1
        }
    }
}
