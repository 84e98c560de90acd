//! Mutual TLS as the mesh uses it: who gets in, who is refused, and what identity is read.

use std::sync::Arc;

use omnirelay_io::tls::{self, Identity, MeshCa, TlsError, TlsMaterial};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::{TlsAcceptor, TlsConnector};

mod transport_support;

use transport_support::{material, material_from, node};

/// Runs one handshake over an in-memory pipe; returns what each side concluded.
async fn handshake(
    server: Arc<rustls::ServerConfig>,
    client: Arc<rustls::ClientConfig>,
) -> (Result<Identity, TlsError>, Result<(), String>) {
    let (server_io, client_io) = tokio::io::duplex(64 * 1024);
    let acceptor = TlsAcceptor::from(server);
    let server_side = tokio::spawn(async move {
        let (mut stream, identity) = tls::accept(&acceptor, server_io, "test-peer").await?;
        let mut buf = [0u8; 4];
        stream
            .read_exact(&mut buf)
            .await
            .map_err(|e| TlsError::Handshake {
                peer: "test-peer".into(),
                reason: e.to_string(),
            })?;
        stream.write_all(b"pong").await.ok();
        Ok(identity)
    });
    let connector = TlsConnector::from(client);
    let name = ServerName::try_from("localhost").unwrap();
    let client_result = async {
        let mut stream = connector
            .connect(name, client_io)
            .await
            .map_err(|e| e.to_string())?;
        stream.write_all(b"ping").await.map_err(|e| e.to_string())?;
        stream.flush().await.map_err(|e| e.to_string())?;
        let mut buf = [0u8; 4];
        stream
            .read_exact(&mut buf)
            .await
            .map_err(|e| e.to_string())?;
        Ok(())
    }
    .await;
    (server_side.await.unwrap(), client_result)
}

#[tokio::test]
async fn a_node_certificate_from_the_mesh_ca_is_accepted_and_names_its_holder() {
    let ca = MeshCa::generate("test mesh").unwrap();
    let server = material(&ca, &node(1, "us-east"));
    let client = material(&ca, &node(2, "eu-west"));
    let (server_saw, client_saw) = handshake(
        server.server_config().unwrap(),
        client.client_config().unwrap(),
    )
    .await;
    assert_eq!(server_saw.unwrap(), node(2, "eu-west"));
    assert!(client_saw.is_ok(), "{client_saw:?}");
    assert_eq!(client.identity().unwrap(), node(2, "eu-west"));
}

#[tokio::test]
async fn a_client_without_a_certificate_is_refused() {
    let ca = MeshCa::generate("test mesh").unwrap();
    let server = material(&ca, &node(1, "us-east"));
    let mut roots = rustls::RootCertStore::empty();
    for der in rustls_pki_types::pem::PemObject::pem_slice_iter(ca.cert_pem().as_bytes()) {
        roots.add(der.unwrap()).unwrap();
    }
    let anonymous = rustls::ClientConfig::builder_with_provider(tls::provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let (server_saw, client_saw) =
        handshake(server.server_config().unwrap(), Arc::new(anonymous)).await;
    let err = server_saw.unwrap_err();
    assert!(
        matches!(&err, TlsError::Handshake { reason, .. } if reason.contains("certificate")),
        "{err}"
    );
    assert!(client_saw.is_err());
}

#[tokio::test]
async fn a_client_from_another_ca_is_refused() {
    let mesh = MeshCa::generate("test mesh").unwrap();
    let rogue = MeshCa::generate("rogue").unwrap();
    let server = material(&mesh, &node(1, "us-east"));
    // The rogue client trusts the mesh CA (so it would accept the server) but its own
    // certificate comes from elsewhere.
    let client = material_from(&mesh, &rogue, &node(9, "us-east"));
    let (server_saw, client_saw) = handshake(
        server.server_config().unwrap(),
        client.client_config().unwrap(),
    )
    .await;
    let err = server_saw.unwrap_err();
    assert!(
        matches!(&err, TlsError::Handshake { reason, .. } if reason.contains("UnknownIssuer")),
        "{err}"
    );
    assert!(client_saw.is_err());
}

#[tokio::test]
async fn a_server_from_another_ca_is_refused_by_the_client() {
    let mesh = MeshCa::generate("test mesh").unwrap();
    let rogue = MeshCa::generate("rogue").unwrap();
    let server = material(&rogue, &node(1, "us-east"));
    let client = material(&mesh, &node(2, "us-east"));
    let (_, client_saw) = handshake(
        server.server_config().unwrap(),
        client.client_config().unwrap(),
    )
    .await;
    let err = client_saw.unwrap_err();
    assert!(err.contains("UnknownIssuer"), "{err}");
}

#[test]
fn a_ca_written_to_disk_loads_back_and_is_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let ca = MeshCa::generate("test mesh").unwrap();
    ca.write(dir.path()).unwrap();
    let loaded = MeshCa::load(dir.path()).unwrap();
    assert_eq!(loaded.cert_pem(), ca.cert_pem());
    assert!(matches!(
        MeshCa::generate("other").unwrap().write(dir.path()),
        Err(TlsError::WouldOverwrite(_))
    ));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join(tls::CA_KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o077,
            0,
            "CA key must not be readable by others: {mode:o}"
        );
    }
    // A certificate issued by the reloaded CA verifies against the original root.
    let issued = loaded
        .issue(&node(3, "ap-south"), &["localhost".into()], &[])
        .unwrap();
    let m = TlsMaterial::from_pem(
        ca.cert_pem().as_bytes(),
        issued.cert_pem.as_bytes(),
        issued.key_pem.as_bytes(),
    )
    .unwrap();
    assert_eq!(m.identity().unwrap(), node(3, "ap-south"));
}

#[test]
fn bad_tls_files_are_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let ca = MeshCa::generate("test mesh").unwrap();
    ca.write(dir.path()).unwrap();
    let issued = ca.issue(&node(1, "us-east"), &[], &[]).unwrap();
    let (cert, key) = issued.write(dir.path(), "n1").unwrap();
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate").unwrap();
    let ca_path = dir.path().join(tls::CA_CERT_FILE);

    assert!(TlsMaterial::load(&ca_path, &cert, &key).is_ok());
    for (c, k, bad) in [(&garbage, &key, &garbage), (&cert, &garbage, &garbage)] {
        let err = TlsMaterial::load(&ca_path, c, k).unwrap_err();
        assert!(
            matches!(&err, TlsError::Pem { path, .. } if path == bad),
            "{err}"
        );
    }
    let missing = dir.path().join("missing.pem");
    let err = TlsMaterial::load(&missing, &cert, &key).unwrap_err();
    assert!(
        matches!(&err, TlsError::Io { path, .. } if *path == missing),
        "{err}"
    );
}

#[cfg(unix)]
#[test]
fn a_key_written_over_a_world_readable_file_ends_up_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let ca = MeshCa::generate("test mesh").unwrap();
    let key = dir.path().join("n1.key");
    std::fs::write(&key, "old").unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    ca.issue(&node(1, "us-east"), &[], &[])
        .unwrap()
        .write(dir.path(), "n1")
        .unwrap();
    let mode = std::fs::metadata(&key).unwrap().permissions().mode();
    assert_eq!(mode & 0o077, 0, "key left readable by others: {mode:o}");
}
