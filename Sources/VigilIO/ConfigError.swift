/// Every problem found in a config file, each with its dotted key and line.
///
/// The loader checks the whole file before it throws, so one run shows everything to fix:
///
/// ```
/// vigil.yaml:4: broker.port: must be between 1 and 65535, got 0
/// vigil.yaml:9: subscriptions[0].device: required key is missing
/// ```
package struct ConfigError: Error, Sendable, CustomStringConvertible {
    /// One problem in a config file.
    package struct Issue: Sendable, Equatable, CustomStringConvertible {
        /// What kind of problem this is.
        package var kind: Kind
        /// The dotted path of the key, such as `broker.port` or `subscriptions[1].device`
        /// (list indices count from 0); empty for a problem with the file as a whole.
        package var key: String
        /// The 1-based line the problem is on, when there is one.
        ///
        /// A missing key points at its parent mapping's line; a file that cannot be read has none.
        package var line: Int?
        /// What is wrong, and what is allowed instead.
        package var message: String

        /// Creates an issue.
        package init(kind: Kind, key: String, line: Int?, message: String) {
            self.kind = kind
            self.key = key
            self.line = line
            self.message = message
        }

        /// `<line>: <key>: <message>`, leaving out the parts that are absent.
        package var description: String {
            var parts: [String] = []
            if let line { parts.append(String(line)) }
            if !key.isEmpty { parts.append(key) }
            parts.append(message)
            return parts.joined(separator: ": ")
        }
    }

    /// The kind of a config ``Issue``.
    ///
    /// A struct over a private code, so that kinds can be added without breaking a `switch`.
    package struct Kind: Sendable, Hashable, CustomStringConvertible {
        private enum Code: String, Sendable, Hashable {
            case unreadableFile = "unreadable file"
            case syntax = "YAML syntax"
            case emptyDocument = "empty document"
            case multipleDocuments = "multiple documents"
            case unknownKey = "unknown key"
            case duplicateKey = "duplicate key"
            case missingKey = "missing key"
            case typeMismatch = "type mismatch"
            case outOfRange = "out of range"
            case invalidValue = "invalid value"
        }

        private let code: Code

        private init(_ code: Code) {
            self.code = code
        }

        /// The file could not be read.
        package static let unreadableFile = Kind(.unreadableFile)
        /// libyaml rejected the text; the message holds its problem text.
        package static let syntax = Kind(.syntax)
        /// The file holds no document: it is empty or only comments.
        package static let emptyDocument = Kind(.emptyDocument)
        /// The file holds more than one YAML document.
        package static let multipleDocuments = Kind(.multipleDocuments)
        /// A key that Vigil does not know.
        package static let unknownKey = Kind(.unknownKey)
        /// A key given twice in one mapping.
        package static let duplicateKey = Kind(.duplicateKey)
        /// A required key that is absent.
        package static let missingKey = Kind(.missingKey)
        /// A value of the wrong YAML type: a mapping for a number, a string for a boolean, and so on.
        package static let typeMismatch = Kind(.typeMismatch)
        /// A number outside its allowed range, or a list that must not be empty.
        package static let outOfRange = Kind(.outOfRange)
        /// A value of the right type that is still not allowed: an unknown enum value, a malformed
        /// topic filter or template, a ring capacity that is not a power of two.
        package static let invalidValue = Kind(.invalidValue)

        /// The kind's name, such as `unknown key`.
        package var description: String { code.rawValue }
    }

    /// Where the config came from: a file path, or `<string>` for text passed directly.
    package var source: String
    /// All problems found, ordered by line (issues without a line last).
    package var issues: [Issue]

    /// Creates an error from its issues, ordering them by line.
    package init(source: String, issues: [Issue]) {
        self.source = source
        // A stable sort: issues on one line keep the order in which they were found.
        self.issues = issues.enumerated().sorted { lhs, rhs in
            switch (lhs.element.line, rhs.element.line) {
            case (let left?, let right?) where left != right: left < right
            case (nil, _?): false
            case (_?, nil): true
            default: lhs.offset < rhs.offset
            }
        }.map(\.element)
    }

    /// One line per issue: `<source>:<line>: <key>: <message>`.
    ///
    /// The line is left out when the issue has none (`<source>: <key>: <message>`), and so is the
    /// key for an issue about the whole file.
    package var description: String {
        issues.map { issue in
            var prefix = source
            if let line = issue.line { prefix += ":\(line)" }
            return issue.key.isEmpty ? "\(prefix): \(issue.message)" : "\(prefix): \(issue.key): \(issue.message)"
        }.joined(separator: "\n")
    }
}
