import SwiftUI
import Nyckel
import NyckelFFI

/// Accounts with live codes and a countdown; scan to add.
struct AccountsView: View {
    @ObservedObject var model: AccountsModel
    @State private var scanning = false

    var body: some View {
        NavigationStack {
            List {
                ForEach(model.codes, id: \.account.id) { entry in
                    CodeRow(entry: entry, next: { model.nextCode(for: entry.account) })
                        .swipeActions {
                            Button("Delete", role: .destructive) { model.delete(entry.account) }
                        }
                }
            }
            .navigationTitle("Nyckel")
            .toolbar {
                Button {
                    scanning = true
                } label: {
                    Image(systemName: "qrcode.viewfinder")
                }
            }
            .sheet(isPresented: $scanning) {
                ScannerView { code in
                    scanning = false
                    model.add(scanned: code)
                }
            }
            .alert("Nyckel", isPresented: Binding(get: { model.errorText != nil }, set: { _ in model.errorText = nil })) {
                Button("OK", role: .cancel) {}
            } message: {
                Text(model.errorText ?? "")
            }
        }
        .onAppear { model.start() }
        .onDisappear { model.stop() }
    }
}

struct CodeRow: View {
    let entry: CodeInfo
    let next: () -> Void

    var body: some View {
        HStack {
            VStack(alignment: .leading) {
                Text(entry.account.issuer.isEmpty ? entry.account.name : entry.account.issuer).font(.headline)
                Text(entry.account.name).font(.caption).foregroundStyle(.secondary)
            }
            Spacer()
            if entry.account.otpType == .hotp {
                Button(entry.code.isEmpty ? "Show code" : entry.code, action: next)
            } else {
                Text(entry.code).font(.system(.title2, design: .monospaced))
                ProgressView(value: Double(entry.secondsLeft), total: Double(max(entry.account.period, 1)))
                    .progressViewStyle(.circular)
                    .frame(width: 28)
            }
        }
    }
}
