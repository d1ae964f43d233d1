import Foundation
import NyckelFFI

/// A file picked for import: its bytes, a name to show and the format Nyckel recognised.
public struct PickedFile {
    public let name: String
    public let bytes: Data
    public let format: ImportFormat?
}

/// Imports another app's export and exports to Aegis, for the import and export screens.
@MainActor
public final class TransferModel: ObservableObject {
    /// Where an import stands.
    public enum ImportState {
        case idle
        /// `needsPassphrase` once the core said the file is encrypted; `wrongPassphrase` after a wrong one.
        case ready(PickedFile, needsPassphrase: Bool, wrongPassphrase: Bool)
        case running(PickedFile)
        case done(PickedFile, [ImportedEntry])
        case failed(PickedFile?, String)
    }

    /// Where an export stands.
    public enum ExportState {
        case idle
        case running
        case done(String)
        case failed(String)
    }

    /// The largest file the import screen reads: real exports are far smaller.
    public static let maxImportBytes = 16_000_000

    @Published public private(set) var importState = ImportState.idle
    @Published public private(set) var exportState = ExportState.idle

    private let core: Nyckel

    public init(core: Nyckel) {
        self.core = core
    }

    /// Reads a file the document picker gave (security-scoped) and recognises its format.
    public func pick(url: URL) {
        let scoped = url.startAccessingSecurityScopedResource()
        defer { if scoped { url.stopAccessingSecurityScopedResource() } }
        do {
            let size = try url.resourceValues(forKeys: [.fileSizeKey]).fileSize ?? 0
            guard size <= Self.maxImportBytes else {
                importState = .failed(nil, "The file is too large to be an export.")
                return
            }
            let bytes = try Data(contentsOf: url)
            importState = .ready(PickedFile(name: url.lastPathComponent, bytes: bytes, format: detectImportFormat(bytes: bytes)),
                                 needsPassphrase: false, wrongPassphrase: false)
        } catch {
            importState = .failed(nil, "The file cannot be read: \(error.localizedDescription)")
        }
    }

    /// Imports the picked file. Without a passphrase an encrypted file fails with `WrongKey`:
    /// the screen then asks for its password and calls again.
    public func runImport(passphrase: String?, allOrNothing: Bool) {
        let file: PickedFile
        switch importState {
        case .ready(let picked, _, _): file = picked
        case .failed(let picked?, _): file = picked
        default: return
        }
        importState = .running(file)
        let core = self.core
        let given = (passphrase?.isEmpty ?? true) ? nil : passphrase
        Task {
            // Encrypted exports go through scrypt or PBKDF2: off the main actor.
            let result = await Task.detached { () -> Result<[ImportedEntry], Error> in
                Result { try core.importFile(bytes: file.bytes, format: file.format, passphrase: given, allOrNothing: allOrNothing) }
            }.value
            switch result {
            case .success(let entries):
                importState = .done(file, entries)
            case .failure(let error):
                if let nyckel = error as? NyckelError, case .WrongKey = nyckel {
                    importState = .ready(file, needsPassphrase: true, wrongPassphrase: given != nil)
                } else {
                    importState = .failed(file, describe(error))
                }
            }
        }
    }

    /// Every account as an Aegis vault file: encrypted under `passphrase`, or plain (secrets in
    /// clear) when it is nil. Returns the bytes for the share sheet, or nil after a failure.
    public func exportAegis(passphrase: String?) async -> Data? {
        exportState = .running
        let core = self.core
        let result = await Task.detached { Result { try core.exportAegis(passphrase: passphrase) } }.value
        switch result {
        case .success(let bytes):
            exportState = .done(passphrase == nil ? "Exported, unencrypted. Delete the file once imported." : "Exported, encrypted.")
            return bytes
        case .failure(let error):
            exportState = .failed(describe(error))
            return nil
        }
    }
}

/// One entry's result as the list shows it.
public func outcomeText(_ entry: ImportedEntry) -> String {
    switch entry.outcome {
    case .added: return "Added"
    case .alreadyPresent: return "Already present"
    case .refused: return "Refused: \(entry.reason ?? "no reason given")"
    case .notAdded: return "Not added: another entry was refused (all or nothing)"
    }
}

/// The counts of an import.
public func importSummary(_ entries: [ImportedEntry]) -> String {
    func count(_ outcome: ImportOutcome) -> Int { entries.filter { $0.outcome == outcome }.count }
    var text = "\(count(.added)) added, \(count(.alreadyPresent)) already present, \(count(.refused)) refused"
    if count(.notAdded) > 0 { text += ", \(count(.notAdded)) not added" }
    return text + "."
}

/// The name of the app a format comes from.
public func formatName(_ format: ImportFormat) -> String {
    switch format {
    case .aegis: return "Aegis"
    case .twoFas: return "2FAS"
    case .bitwarden: return "Bitwarden"
    case .andOtp: return "andOTP"
    case .freeOtpPlus: return "FreeOTP+"
    case .ente: return "Ente Auth"
    case .proton: return "Proton Authenticator"
    case .uris: return "otpauth:// links"
    }
}
