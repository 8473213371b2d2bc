fn main() {
    println!("ebb");
}
