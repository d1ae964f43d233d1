import SwiftUI
import Nyckel
import NyckelFFI

/// What this phone answered, newest first: when, service, action, the decision, the server's
/// result and whether its signed receipt is kept; per registration, a check against the server's
/// audit. One-time passwords and MACs are never in the history.
struct HistoryView: View {
    @ObservedObject var model: HistoryModel
    let registrations: [RegistrationInfo]
    let close: () -> Void

    var body: some View {
        NavigationStack {
            List {
                Section("Check with the server") {
                    ForEach(registrations, id: \.id) { registration in
                        VStack(alignment: .leading, spacing: 4) {
                            HStack {
                                Text(registration.name).font(.subheadline)
                                Spacer()
                                Button("Check") { model.check(registrationId: registration.id) }
                                    .buttonStyle(.bordered)
                            }
                            CheckText(check: model.checks[registration.id])
                        }
                    }
                }
                Section("Answers") {
                    if model.entries.isEmpty {
                        Text("Nothing answered yet.").foregroundStyle(.secondary)
                    }
                    ForEach(model.entries, id: \.seq) { entry in
                        HistoryRow(entry: entry)
                    }
                }
            }
            .navigationTitle("History")
            .toolbar {
                ToolbarItem(placement: .confirmationAction) { Button("Done", action: close) }
            }
            .alert("Nyckel", isPresented: Binding(get: { model.errorText != nil }, set: { _ in model.errorText = nil })) {
                Button("OK", role: .cancel) {}
            } message: {
                Text(model.errorText ?? "")
            }
        }
        .onAppear { model.load() }
    }
}

/// The outcome of one registration's check.
private struct CheckText: View {
    let check: HistoryModel.Check?

    var body: some View {
        switch check {
        case .none:
            EmptyView()
        case .running:
            ProgressView()
        case .failed(let message):
            Text(message).font(.caption).foregroundStyle(.red)
        case .done(let result):
            if result.agrees {
                Text("Agrees: \(result.entries) entries, \(result.auditEvents) server events, chain intact.")
                    .font(.caption).foregroundStyle(.green)
            } else {
                VStack(alignment: .leading) {
                    Text("Does not agree with the server:").font(.caption).foregroundStyle(.red)
                    ForEach(result.chainFindings + result.disagreements, id: \.self) { finding in
                        Text("• \(finding)").font(.caption).foregroundStyle(.red)
                    }
                }
            }
        }
    }
}

/// One answer or one-time password.
private struct HistoryRow: View {
    let entry: HistoryEntry

    var body: some View {
        VStack(alignment: .leading, spacing: 2) {
            HStack {
                Text(entry.service.isEmpty ? entry.server : entry.service).font(.headline)
                Spacer()
                Text(Date(timeIntervalSince1970: TimeInterval(entry.at)), style: .date).font(.caption)
                Text(Date(timeIntervalSince1970: TimeInterval(entry.at)), style: .time).font(.caption)
            }
            Text(entry.action).font(.subheadline)
            Text("\(decisionText(entry)) · \(resultText(entry.result)) · \(receiptText(entry))")
                .font(.caption)
                .foregroundStyle(entry.receiptRefused ? Color.red : Color.secondary)
            Text(entry.server).font(.caption2).foregroundStyle(.secondary)
        }
    }
}
