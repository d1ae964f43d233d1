import SwiftUI
import UniformTypeIdentifiers
import Nyckel
import NyckelFFI

/// Imports another app's export: pick a file, see the format Nyckel recognised, give the password
/// when the file is encrypted, optionally all or nothing, then one line per entry: added, already
/// present, or refused with the reason.
struct ImportView: View {
    @ObservedObject var model: TransferModel
    let close: () -> Void
    @State private var picking = false
    @State private var passphrase = ""
    @State private var allOrNothing = false

    var body: some View {
        NavigationStack {
            Form {
                Section {
                    Text("Aegis, 2FAS, Bitwarden, andOTP, FreeOTP+, Ente, Proton Authenticator, or a list of otpauth:// links.")
                        .font(.caption).foregroundStyle(.secondary)
                    Button("Choose file") { picking = true }.disabled(isRunning)
                }
                if let file = pickedFile {
                    Section("File") {
                        Text(file.name)
                        if let format = file.format {
                            Text("Format: \(formatName(format))")
                        } else {
                            Text("Nyckel does not recognise this file.").foregroundStyle(.red)
                        }
                    }
                }
                switch model.importState {
                case .idle:
                    EmptyView()
                case .ready(let file, let needsPassphrase, let wrongPassphrase):
                    if file.format != nil {
                        Section {
                            if needsPassphrase {
                                Text(wrongPassphrase ? "That password does not open the file." : "This file is encrypted: enter the password it was exported with.")
                                    .foregroundStyle(wrongPassphrase ? Color.red : Color.primary)
                                SecureField("Password", text: $passphrase)
                            }
                            Toggle("All or nothing", isOn: $allOrNothing)
                            Text("If any entry is refused, add none of them.").font(.caption).foregroundStyle(.secondary)
                            Button("Import") {
                                model.runImport(passphrase: needsPassphrase ? passphrase : nil, allOrNothing: allOrNothing)
                            }
                            .disabled(needsPassphrase && passphrase.isEmpty)
                        }
                    }
                case .running:
                    Section { ProgressView("Importing…") }
                case .failed(_, let message):
                    Section { Text(message).foregroundStyle(.red) }
                case .done(_, let entries):
                    Section(importSummary(entries)) {
                        ForEach(entries, id: \.position) { entry in
                            VStack(alignment: .leading) {
                                Text("\(entry.position). \(entry.label.isEmpty ? "(no name)" : entry.label)")
                                Text(outcomeText(entry))
                                    .font(.caption)
                                    .foregroundStyle(entry.outcome == .refused ? Color.red : Color.secondary)
                            }
                        }
                    }
                }
            }
            .navigationTitle("Import")
            .toolbar {
                ToolbarItem(placement: .confirmationAction) { Button("Done", action: close).disabled(isRunning) }
            }
            .fileImporter(isPresented: $picking, allowedContentTypes: [.data]) { result in
                if case .success(let url) = result {
                    passphrase = ""
                    model.pick(url: url)
                }
            }
        }
    }

    private var isRunning: Bool {
        if case .running = model.importState { return true }
        return false
    }

    private var pickedFile: PickedFile? {
        switch model.importState {
        case .idle: return nil
        case .ready(let file, _, _), .running(let file), .done(let file, _): return file
        case .failed(let file, _): return file
        }
    }
}
