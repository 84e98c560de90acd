//! `omnirelay cert ...`: mint the mesh CA and node or operator certificates.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use omnirelay_core::{ClusterId, NodeId};

use crate::tls::{Identity, MeshCa, Role, TlsError};

/// Certificate commands.
#[derive(Debug, Subcommand)]
pub enum CertCommand {
    /// Create a new mesh CA (ca.pem, ca.key) in a directory. Refuses to overwrite one.
    Ca(CaArgs),
    /// Issue a node or operator certificate signed by the mesh CA.
    Issue(IssueArgs),
}

/// `omnirelay cert ca`.
#[derive(Debug, Args)]
pub struct CaArgs {
    /// Directory to write ca.pem and ca.key (mode 0600) into.
    #[arg(long)]
    pub out: PathBuf,
    /// The CA's common name.
    #[arg(long, default_value = "OmniRelay Mesh CA")]
    pub name: String,
}

/// `omnirelay cert issue`.
#[derive(Debug, Args)]
pub struct IssueArgs {
    /// Directory holding the mesh CA (ca.pem, ca.key).
    #[arg(long)]
    pub ca: PathBuf,
    /// Directory to write the certificate and key into (default: the CA directory).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Node id (n7 or 7), for a node certificate.
    #[arg(long, required_unless_present = "operator")]
    pub node: Option<NodeId>,
    /// Cluster of the node.
    #[arg(long, required_unless_present = "operator")]
    pub cluster: Option<ClusterId>,
    /// Role of the node: voter, learner or witness.
    #[arg(long, default_value = "voter")]
    pub role: Role,
    /// Issue an operator certificate with this name instead of a node certificate.
    #[arg(long, conflicts_with_all = ["node", "cluster"])]
    pub operator: Option<ClusterId>,
    /// DNS names the certificate is valid for (repeatable).
    #[arg(long = "host", default_value = "localhost")]
    pub hosts: Vec<String>,
    /// IP addresses the certificate is valid for (repeatable).
    #[arg(long = "ip", default_value = "127.0.0.1")]
    pub ips: Vec<IpAddr>,
}

/// Runs a certificate command; prints the files written.
pub fn run(command: CertCommand) -> Result<(), TlsError> {
    match command {
        CertCommand::Ca(args) => {
            let ca = MeshCa::generate(&args.name)?;
            ca.write(&args.out)?;
            println!(
                "wrote {} and {}",
                args.out.join(crate::tls::CA_CERT_FILE).display(),
                args.out.join(crate::tls::CA_KEY_FILE).display()
            );
        }
        CertCommand::Issue(args) => {
            let ca = MeshCa::load(&args.ca)?;
            let (identity, stem) = match (args.operator, args.node, args.cluster) {
                (Some(name), _, _) => {
                    let stem = format!("operator-{name}");
                    (Identity::Operator { name }, stem)
                }
                (None, Some(node), Some(cluster)) => {
                    if args.role == Role::Operator {
                        return Err(TlsError::Pem {
                            path: args.ca,
                            what: "--role operator needs --operator NAME, not --node".into(),
                        });
                    }
                    (
                        Identity::Node {
                            node,
                            cluster,
                            role: args.role,
                        },
                        node.to_string(),
                    )
                }
                // clap's required_unless_present makes this unreachable from the CLI.
                _ => {
                    return Err(TlsError::Pem {
                        path: args.ca,
                        what: "either --operator or both --node and --cluster are needed".into(),
                    });
                }
            };
            let issued = ca.issue(&identity, &args.hosts, &args.ips)?;
            let out = args.out.unwrap_or(args.ca);
            let (cert, key) = issued.write(&out, &stem)?;
            println!(
                "issued {} for {identity}: {} and {}",
                identity.to_uri(),
                cert.display(),
                key.display()
            );
        }
    }
    Ok(())
}
