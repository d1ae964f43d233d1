import SwiftUI
import UniformTypeIdentifiers
import Nyckel
import NyckelFFI

/// The shortest export password the screen accepts.
let minExportPassword = 8

/// An exported Aegis file, for the file exporter.
struct AegisFile: FileDocument {
    static var readableContentTypes: [UTType] { [.json] }
    let bytes: Data

    init(bytes: Data) {
        self.bytes = bytes
    }

    init(configuration: ReadConfiguration) throws {
        bytes = configuration.file.regularFileContents ?? Data()
    }

    func fileWrapper(configuration: WriteConfiguration) throws -> FileWrapper {
        FileWrapper(regularFileWithContents: bytes)
    }
}

/// Exports every account as an Aegis vault file, encrypted under a password asked twice, or
/// plain only after the user turns encryption off and is told the secrets are then in clear.
struct ExportView: View {
    @ObservedObject var model: TransferModel
    let close: () -> Void
    @State private var encrypt = true
    @State private var password = ""
    @State private var again = ""
    @State private var file: AegisFile?

    var body: some View {
        NavigationStack {
            Form {
                Section {
                    Text("Every account, in a file Aegis (and Nyckel) can import. Registrations with servers are not exported.")
                        .font(.caption)
                    Toggle("Encrypt with a password", isOn: $encrypt)
                    if encrypt {
                        SecureField("Password (at least \(minExportPassword) characters)", text: $password)
                        SecureField("Password again", text: $again)
                        if !again.isEmpty && again != password {
                            Text("The passwords differ.").foregroundStyle(.red)
                        }
                    } else {
                        Text("Without a password the file holds every secret in clear: anyone who reads it can make your codes.")
                            .foregroundStyle(.red)
                    }
                    Button("Export") {
                        Task { file = await model.exportAegis(passphrase: encrypt ? password : nil).map(AegisFile.init) }
                    }
                    .disabled(!ready)
                }
                switch model.exportState {
                case .idle: EmptyView()
                case .running: Section { ProgressView("Exporting…") }
                case .done(let message): Section { Text(message) }
                case .failed(let message): Section { Text(message).foregroundStyle(.red) }
                }
            }
            .navigationTitle("Export to Aegis")
            .toolbar {
                ToolbarItem(placement: .confirmationAction) { Button("Done", action: close) }
            }
            .fileExporter(
                isPresented: Binding(get: { file != nil }, set: { if !$0 { file = nil } }),
                document: file,
                contentType: .json,
                defaultFilename: "nyckel-aegis.json"
            ) { _ in file = nil }
        }
    }

    private var ready: Bool {
        if case .running = model.exportState { return false }
        return !encrypt || (password.count >= minExportPassword && password == again)
    }
}
